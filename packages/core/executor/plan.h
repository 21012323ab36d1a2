/* Decoded plan: the namespaces to join and create, and the child's steps. */
#ifndef BULKHEAD_PLAN_H
#define BULKHEAD_PLAN_H

#include <stdint.h>

#define PLAN_MAGIC "BHP1"
#define PLAN_VERSION 1

/*
 * Upper bound on total_length. It is not a kernel limit: it only keeps a misframed
 * length prefix from turning into a multi-gigabyte allocation.
 */
#define PLAN_MAX_LENGTH (64u << 20)

/* Size of the executor's file descriptor table that `slot` and `root` args index. */
#define PLAN_SLOT_COUNT 16

enum plan_op {
	OP_OPEN_ROOT = 1,
	OP_MOUNT = 2,
	OP_MOUNT_SETATTR = 3,
	OP_MKDIR = 4,
	OP_SYMLINK = 5,
	OP_PIVOT_ROOT = 6,
	OP_SETHOSTNAME = 7,
	OP_SETDOMAINNAME = 8,
	OP_CHDIR = 9,
	OP_BARRIER = 10,
	OP_EXEC = 11,
	OP_INIT = 12,
	OP_WRITE_FILE = 13,
	OP_SETGROUPS = 14,
	OP_SETRESGID = 15,
	OP_SETRESUID = 16,
	OP_SETRLIMIT = 17,
	OP_PRCTL = 18,
	OP_UMASK = 19,
	OP_OPEN_PATH = 20,
	OP_WAIT_FIFO = 21,
	OP_UNSHARE = 22,
	OP_CAPSET = 23,
	OP_SECCOMP = 24,
	OP_TERMINAL = 25,
	OP_PRESERVE_FDS = 26,
	OP_MOVE_ROOT = 27,
	OP_IDMAP_TREE = 28,
	OP_MOVE_MOUNT = 29,
	OP_MOUNT_NOFOLLOW = 31,
	OP_MOUNT_SLOT = 32,
	OP_MKNOD = 33,
	OP_LINK_UP = 34,
	OP_OPEN_IN_ROOT = 36,
	OP_COPY_TREE = 37,
	OP_COUNT
};

/* One step argument. kind is the wire kind byte: 'i', 's', 'b', 'v' or 'n'. */
struct plan_arg {
	char kind;
	int64_t integer;
	char *string;          /* 's': NUL-terminated copy; 'n': NULL */
	const uint8_t *bytes;  /* 'b': points into the plan buffer */
	uint32_t length;       /* 'b': byte count */
	char **vector;         /* 'v': NULL-terminated array of copies */
};

struct plan_step {
	uint32_t op;
	uint32_t tolerated_count;
	int32_t *tolerated;
	uint32_t arg_count;
	struct plan_arg *args;
};

struct plan_join {
	uint32_t nstype;
	char *path;
};

/* Clocks a time namespace can offset: CLOCK_MONOTONIC and CLOCK_BOOTTIME. */
#define PLAN_MAX_TIME_OFFSETS 2

struct plan_time_offset {
	uint32_t clock;    /* CLOCK_MONOTONIC (1) or CLOCK_BOOTTIME (7) */
	int64_t secs;
	int64_t nanosecs;  /* 0 to 999999999 */
};

struct plan {
	uint32_t clone_flags;
	uint32_t join_count;
	struct plan_join *joins;
	uint32_t time_offset_count;
	struct plan_time_offset time_offsets[PLAN_MAX_TIME_OFFSETS];
	uint32_t step_count;
	struct plan_step *steps;
	/* Slots that setup-stage steps (IDMAP_TREE) filled; the child starts with them. -1 is empty. */
	int setup_slots[PLAN_SLOT_COUNT];
};

int plan_read(int fd, struct plan *plan);

#endif
