/* Sync messages between the executor and its Node parent on fd 3. */
#ifndef BULKHEAD_SYNC_H
#define BULKHEAD_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The Node parent passes one end of a UNIX stream socket as fd 3. */
#define SYNC_FD 3

#define SYNC_MESSAGE_SIZE 16

enum sync_type {
	SYNC_PID = 1,
	SYNC_BARRIER = 2,
	SYNC_RELEASE = 3,
	SYNC_STEP_FAILED = 4,
	SYNC_LISTENER = 5,
};

/* Value of STEP_FAILED's c field: which process ran the failed work. */
enum sync_stage {
	STAGE_SETUP = 0,
	STAGE_CHILD = 1,
};

struct sync_message {
	uint32_t type;
	int32_t a;
	int32_t b;
	int32_t c;
};

ssize_t read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
int sync_send(int fd, uint32_t type, int32_t a, int32_t b, int32_t c);
int sync_receive(int fd, struct sync_message *message);

#endif
