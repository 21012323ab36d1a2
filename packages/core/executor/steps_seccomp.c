/* SECCOMP: loads a BPF program that the parent compiled, as the child's last step before exec. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "steps.h"
#include "sync.h"

/* The kernel's limit on a classic BPF program (BPF_MAXINSNS in linux/bpf_common.h). */
#define MAX_INSTRUCTIONS 4096

/*
 * Hands the listener fd to the parent: sends LISTENER(fd) and waits for RELEASE(fd), by
 * which time the parent has copied the fd with pidfd_getfd(2) and passed it on. The fd is
 * then closed, so the container keeps no handle on its own notifications.
 */
static int hand_over_listener(struct child_context *context, int listener)
{
	struct sync_message reply;

	if (sync_send(context->sync_fd, SYNC_LISTENER, listener, 0, 0) < 0)
		_exit(1);
	if (sync_receive(context->sync_fd, &reply) < 0)
		_exit(1);
	if (reply.type != SYNC_RELEASE || reply.a != listener)
		_exit(1);
	close(listener);
	return 0;
}

/*
 * args: filter b (struct sock_filter array, 8 bytes per instruction), flags i
 * (SECCOMP_FILTER_FLAG_* bits, passed to the kernel as they are), listener i (1: add
 * SECCOMP_FILTER_FLAG_NEW_LISTENER and hand the listener to the parent).
 */
int op_seccomp(struct child_context *context, const struct plan_arg *args)
{
	size_t count = args[0].length / sizeof(struct sock_filter);
	struct sock_filter *instructions;
	struct sock_fprog program;
	unsigned int flags;
	long rc;

	if (args[0].length % sizeof(struct sock_filter) != 0 || count == 0 || count > MAX_INSTRUCTIONS)
		return EINVAL;
	if (args[1].integer < 0 || args[1].integer > UINT32_MAX)
		return EINVAL;
	if (args[2].integer != 0 && args[2].integer != 1)
		return EINVAL;
	flags = (unsigned int)args[1].integer;
	if (args[2].integer == 1)
		flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;

	/* A copy, because the plan buffer gives no alignment guarantee. */
	instructions = malloc(args[0].length);
	if (instructions == NULL)
		return ENOMEM;
	memcpy(instructions, args[0].bytes, args[0].length);
	program = (struct sock_fprog){ .len = (unsigned short)count, .filter = instructions };

	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
	free(instructions);
	if (rc < 0)
		return errno;
	if (args[2].integer == 1)
		return hand_over_listener(context, (int)rc);
	return 0;
}
