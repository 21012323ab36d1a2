#include "sync.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Reads until len bytes arrive or the peer closes. Returns the byte count, which is
 * short only at end-of-file, or -1 with errno set.
 */
ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Writes all of buf to a regular file or procfs file. Returns 0, or -1 with errno set. */
int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * Sends with MSG_NOSIGNAL because the Node parent may close its end at any time, and a
 * SIGPIPE would kill the process before it can exit with its own status.
 */
static int send_full(int fd, const unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void put_u32_le(unsigned char *out, uint32_t value)
{
	out[0] = (unsigned char)value;
	out[1] = (unsigned char)(value >> 8);
	out[2] = (unsigned char)(value >> 16);
	out[3] = (unsigned char)(value >> 24);
}

static uint32_t get_u32_le(const unsigned char *in)
{
	return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
	       (uint32_t)in[3] << 24;
}

/* Sends one 16-byte message. Returns 0, or -1 with errno set. */
int sync_send(int fd, uint32_t type, int32_t a, int32_t b, int32_t c)
{
	unsigned char buf[SYNC_MESSAGE_SIZE];

	put_u32_le(buf, type);
	put_u32_le(buf + 4, (uint32_t)a);
	put_u32_le(buf + 8, (uint32_t)b);
	put_u32_le(buf + 12, (uint32_t)c);
	return send_full(fd, buf, sizeof(buf));
}

/* Receives one 16-byte message. Returns 0, or -1 with errno set (0 at end-of-file). */
int sync_receive(int fd, struct sync_message *message)
{
	unsigned char buf[SYNC_MESSAGE_SIZE];
	ssize_t n = read_full(fd, buf, sizeof(buf));

	if (n < 0)
		return -1;
	if (n != (ssize_t)sizeof(buf)) {
		errno = 0;
		return -1;
	}
	message->type = get_u32_le(buf);
	message->a = (int32_t)get_u32_le(buf + 4);
	message->b = (int32_t)get_u32_le(buf + 8);
	message->c = (int32_t)get_u32_le(buf + 12);
	return 0;
}
