#include "steps.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "sync.h"

static step_function op_barrier;

/*
 * One signature character per arg, checked by the decoder before clone:
 *   s string, ? string or 'n', i integer, b bytes, v string vector,
 *   r root (integer, -1 or a slot index), f slot index (integer, 0 to PLAN_SLOT_COUNT - 1).
 */
struct op_entry {
	const char *signature;
	step_function *run;
};

static const struct op_entry op_table[OP_COUNT] = {
	[OP_OPEN_ROOT] = { "sf", op_open_root },
	[OP_MOUNT] = { "?s?i?ri", op_mount },
	[OP_MOUNT_SETATTR] = { "sriiii", op_mount_setattr },
	[OP_MKDIR] = { "sir", op_mkdir },
	[OP_SYMLINK] = { "ssr", op_symlink },
	[OP_PIVOT_ROOT] = { "f", op_pivot_root },
	[OP_SETHOSTNAME] = { "s", op_sethostname },
	[OP_SETDOMAINNAME] = { "s", op_setdomainname },
	[OP_CHDIR] = { "s", op_chdir },
	[OP_BARRIER] = { "i", op_barrier },
	[OP_EXEC] = { "svv", op_exec },
	[OP_INIT] = { "", op_init },
	[OP_WRITE_FILE] = { "sbr", op_write_file },
	[OP_SETGROUPS] = { "b", op_setgroups },
	[OP_SETRESGID] = { "i", op_setresgid },
	[OP_SETRESUID] = { "i", op_setresuid },
	[OP_SETRLIMIT] = { "iii", op_setrlimit },
	[OP_PRCTL] = { "iiiii", op_prctl },
	[OP_UMASK] = { "i", op_umask },
	[OP_OPEN_PATH] = { "sf", op_open_path },
	[OP_WAIT_FIFO] = { "f", op_wait_fifo },
	[OP_UNSHARE] = { "i", op_unshare },
	[OP_CAPSET] = { "iii", op_capset },
	[OP_SECCOMP] = { "bii", op_seccomp },
	[OP_TERMINAL] = { "iiiiii", op_terminal },
	[OP_PRESERVE_FDS] = { "ii", op_preserve_fds },
	[OP_MOVE_ROOT] = { "f", op_move_root },
	[OP_IDMAP_TREE] = { "sfibb", op_idmap_tree },
	[OP_MOVE_MOUNT] = { "fsr", op_move_mount },
	[OP_LINK_UP] = { "siii", op_link_up },
	[OP_MOUNT_NOFOLLOW] = { "?s?i?ri", op_mount_nofollow },
	[OP_MOUNT_SLOT] = { "fsiri", op_mount_slot },
	[OP_MKNOD] = { "siiiiir", op_mknod },
	[OP_OPEN_IN_ROOT] = { "srf", op_open_in_root },
	[OP_COPY_TREE] = { "fsri", op_copy_tree },
};

/* Returns the arg signature of op, or NULL for an unknown op. */
const char *op_signature(uint32_t op)
{
	if (op >= OP_COUNT || op_table[op].run == NULL)
		return NULL;
	return op_table[op].signature;
}

/*
 * Maps a root arg to a directory fd: -1 stays -1 (host path), a slot index yields the
 * slot's fd. Returns EBADF for an empty slot so that it is never taken as a host path.
 */
int root_fd(const struct child_context *context, const struct plan_arg *root, int *fd)
{
	if (root->integer < 0) {
		*fd = -1;
		return 0;
	}
	*fd = context->slots[root->integer];
	return *fd < 0 ? EBADF : 0;
}

/*
 * Sends BARRIER(id) and blocks until the parent sends RELEASE(id). End-of-file or any
 * other message means the parent gave up on this container, so the child exits
 * without a STEP_FAILED report.
 */
static int op_barrier(struct child_context *context, const struct plan_arg *args)
{
	int64_t id = args[0].integer;
	struct sync_message reply;

	if (id < INT32_MIN || id > INT32_MAX)
		return EINVAL;
	if (sync_send(context->sync_fd, SYNC_BARRIER, (int32_t)id, 0, 0) < 0)
		_exit(1);
	if (sync_receive(context->sync_fd, &reply) < 0)
		_exit(1);
	if (reply.type != SYNC_RELEASE || reply.a != (int32_t)id)
		_exit(1);
	return 0;
}

static int is_tolerated(const struct plan_step *step, int err)
{
	for (uint32_t i = 0; i < step->tolerated_count; i++) {
		if (step->tolerated[i] == err)
			return 1;
	}
	return 0;
}

/*
 * Runs the plan's steps in order and exits: 0 after the last step if no EXEC replaced
 * the process, 1 after reporting a failed step to the parent.
 */
noreturn void steps_run(const struct plan *plan, int sync_fd)
{
	struct child_context context = { .sync_fd = sync_fd };

	for (int i = 0; i < PLAN_SLOT_COUNT; i++)
		context.slots[i] = plan->setup_slots[i];
	for (uint32_t i = 0; i < plan->step_count; i++) {
		const struct plan_step *step = &plan->steps[i];
		int err = op_table[step->op].run(&context, step->args);

		if (err == 0 || is_tolerated(step, err))
			continue;
		sync_send(context.sync_fd, SYNC_STEP_FAILED, (int32_t)i, err, STAGE_CHILD);
		_exit(1);
	}
	_exit(0);
}
