/*
 * The engine's half of --console-socket, for the tests: listens on a UNIX socket, receives
 * one pty master with SCM_RIGHTS, optionally sets its window size, and once the container
 * has written something (a shell's prompt) writes the input to the master. Everything read
 * from the master goes to stdout until the container side closes.
 *
 * usage: console-receiver SOCKET ROWS COLS INPUT
 * Prints "ready" on stderr once it listens, and "payload=NAME" once it has the master.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "console-receiver: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int listen_on(const char *path)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	snprintf(address.sun_path, sizeof(address.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
		die("bind");
	if (listen(fd, 1) < 0)
		die("listen");
	return fd;
}

static int receive_master(int connection)
{
	char payload[256] = { 0 };
	union {
		char buffer[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = payload, .iov_len = sizeof(payload) - 1 };
	struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof(control.buffer) };
	struct cmsghdr *header;
	int fd;

	if (recvmsg(connection, &message, 0) < 0)
		die("recvmsg");
	header = CMSG_FIRSTHDR(&message);
	if (header == NULL || header->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "console-receiver: no fd in the message\n");
		exit(1);
	}
	memcpy(&fd, CMSG_DATA(header), sizeof(fd));
	fprintf(stderr, "payload=%s\n", payload);
	return fd;
}

int main(int argc, char **argv)
{
	struct winsize size = { 0 };
	char buffer[4096];
	int listener, connection, master, written = 0;
	ssize_t n;

	if (argc != 5) {
		fprintf(stderr, "usage: console-receiver SOCKET ROWS COLS INPUT\n");
		return 2;
	}
	alarm(30);
	listener = listen_on(argv[1]);
	fprintf(stderr, "ready\n");
	connection = accept(listener, NULL, NULL);
	if (connection < 0)
		die("accept");
	master = receive_master(connection);
	size.ws_row = (unsigned short)atoi(argv[2]);
	size.ws_col = (unsigned short)atoi(argv[3]);
	if (size.ws_row > 0 && ioctl(master, TIOCSWINSZ, &size) < 0)
		die("TIOCSWINSZ");
	while ((n = read(master, buffer, sizeof(buffer))) > 0) {
		fwrite(buffer, 1, (size_t)n, stdout);
		fflush(stdout);
		if (!written && argv[4][0] != '\0') {
			if (write(master, argv[4], strlen(argv[4])) < 0)
				die("write");
			written = 1;
		}
	}
	/* EIO: every fd of the slave is closed, the container side is done. */
	if (n < 0 && errno != EIO)
		die("read");
	return 0;
}
