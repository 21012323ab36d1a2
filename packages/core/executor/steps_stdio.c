/* Steps that shape the container process's stdio and fd table: TERMINAL and PRESERVE_FDS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "steps.h"

/* fds the Node parent passes after the sync socket start here. */
#define FIRST_EXTRA_FD 4

/* The message body: on a stream socket, SCM_RIGHTS travels only with at least one byte of data. */
static const char PTY_NAME[] = "/dev/ptmx";

/* Sends fd over a connected UNIX socket in one SCM_RIGHTS message. */
static int send_fd(int socket, int fd)
{
	union {
		char buffer[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)PTY_NAME, .iov_len = sizeof(PTY_NAME) - 1 };
	struct msghdr message = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buffer,
		.msg_controllen = sizeof(control.buffer),
	};
	struct cmsghdr *header;
	ssize_t sent;

	memset(&control, 0, sizeof(control));
	header = CMSG_FIRSTHDR(&message);
	header->cmsg_level = SOL_SOCKET;
	header->cmsg_type = SCM_RIGHTS;
	header->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(header), &fd, sizeof(int));
	do
		sent = sendmsg(socket, &message, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	return sent < 0 ? errno : 0;
}

/*
 * Opens a new pty pair in the current root's /dev/ptmx. The slave is opened through the
 * master (TIOCGPTPEER, Linux 4.13), so it is the master's own peer even if /dev/pts is not
 * the devpts instance that /dev/ptmx belongs to.
 */
static int open_pty(int *master, int *slave)
{
	int unlock = 0;

	*master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		return errno;
	if (ioctl(*master, TIOCSPTLCK, &unlock) < 0)
		return errno;
	*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	return *slave < 0 ? errno : 0;
}

/* Bind-mounts the slave onto /dev/console, creating an empty file there first if needed. */
static int bind_console(int slave)
{
	char source[64];
	int fd = open("/dev/console", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 && errno != EEXIST)
		return errno;
	if (fd >= 0)
		close(fd);
	snprintf(source, sizeof(source), "/proc/self/fd/%d", slave);
	return mount(source, "/dev/console", NULL, MS_BIND, NULL) < 0 ? errno : 0;
}

/* Makes the slave the controlling terminal of a new session and the process's fds 0 to 2. */
static int take_slave(int slave)
{
	if (setsid() < 0)
		return errno;
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return errno;
	for (int fd = 0; fd <= 2; fd++) {
		if (dup2(slave, fd) < 0)
			return errno;
	}
	return 0;
}

static int setup_terminal(const struct plan_arg *args, int master, int slave)
{
	struct winsize size = { .ws_row = (unsigned short)args[1].integer, .ws_col = (unsigned short)args[2].integer };
	int err;

	if (size.ws_row > 0 && size.ws_col > 0 && ioctl(master, TIOCSWINSZ, &size) < 0)
		return errno;
	if (args[4].integer >= 0 && fchown(slave, (uid_t)args[4].integer, (gid_t)args[5].integer) < 0)
		return errno;
	if (args[3].integer != 0) {
		err = bind_console(slave);
		if (err != 0)
			return err;
	}
	err = send_fd((int)args[0].integer, master);
	if (err != 0)
		return err;
	return take_slave(slave);
}

/*
 * TERMINAL socket, rows, cols, console, uid, gid: opens a pty in the current root. It sets
 * the size when rows and cols are above 0, gives the slave to uid and gid (uid -1 leaves it),
 * and binds the slave onto /dev/console when console is 1. Then it sends the master over the
 * socket, an extra fd from FIRST_EXTRA_FD up, and makes the slave the controlling terminal
 * and fds 0 to 2. The socket stays open, close-on-exec, until EXEC.
 */
int op_terminal(struct child_context *context, const struct plan_arg *args)
{
	int master = -1, slave = -1, err;

	(void)context;
	if (args[0].integer < FIRST_EXTRA_FD || args[0].integer > INT32_MAX)
		return EBADF;
	if (args[1].integer < 0 || args[1].integer > UINT16_MAX || args[2].integer < 0 || args[2].integer > UINT16_MAX)
		return EINVAL;
	if (args[4].integer < -1 || args[4].integer >= (int64_t)UINT32_MAX || args[5].integer < -1 || args[5].integer >= (int64_t)UINT32_MAX)
		return EINVAL;
	err = open_pty(&master, &slave);
	if (err == 0)
		err = setup_terminal(args, master, slave);
	if (master >= 0)
		close(master);
	if (slave > 2)
		close(slave);
	return err;
}

/*
 * PRESERVE_FDS first, count: gives the process the parent's fds first .. first+count-1 as
 * fds 3 .. 3+count-1, without close-on-exec. The sync socket moves above them first. The
 * moves go upwards, and first is at least FIRST_EXTRA_FD, so a move never overwrites an fd
 * that is still to be moved.
 */
int op_preserve_fds(struct child_context *context, const struct plan_arg *args)
{
	int64_t first = args[0].integer, count = args[1].integer;
	int sync_fd;

	if (first < FIRST_EXTRA_FD || count < 0 || first + count > 1024 * 1024)
		return EINVAL;
	if (count == 0)
		return 0;
	sync_fd = fcntl(context->sync_fd, F_DUPFD_CLOEXEC, (int)(first + count));
	if (sync_fd < 0)
		return errno;
	context->sync_fd = sync_fd;
	for (int i = 0; i < count; i++) {
		if (dup2((int)first + i, 3 + i) < 0)
			return errno;
	}
	return 0;
}
