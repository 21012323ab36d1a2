/*
 * bulkhead-executor: carries out a plan that the Node parent sends on fd 3.
 *
 * Setup stage: read the plan, setns() into the namespaces to join, prepare idmapped
 * mounts, unshare the time namespace, and clone the child with CLONE_PARENT so that it
 * becomes a child of the Node process. Then send PID and exit.
 * Child stage: run the steps in order (steps.c), normally ending with EXEC.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plan.h"
#include "steps.h"
#include "sync.h"

static noreturn void fail_setup(int err)
{
	sync_send(SYNC_FD, SYNC_STEP_FAILED, -1, err, STAGE_SETUP);
	exit(1);
}

/* Marks fds from 4 up close-on-exec one by one, for kernels before 5.11. */
static void mark_cloexec_from_proc(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *entry;

	if (dir == NULL)
		return;
	while ((entry = readdir(dir)) != NULL) {
		int fd = atoi(entry->d_name);

		if (fd >= 4 && fd != dirfd(dir))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(dir);
}

/*
 * Keeps any fd that the Node parent leaked from reaching the container's program, and
 * makes fd 3 blocking because every read on it must wait for the parent. fds 0 to 2
 * are the container's stdio and stay as they are.
 */
static void prepare_fds(void)
{
	int flags;

	if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0)
		exit(1);
	flags = fcntl(SYNC_FD, F_GETFL);
	if (flags >= 0 && (flags & O_NONBLOCK) != 0)
		fcntl(SYNC_FD, F_SETFL, flags & ~O_NONBLOCK);

	/* CLOSE_RANGE_CLOEXEC needs Linux 5.11; older kernels fail with ENOSYS or EINVAL. */
	if (close_range(4, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		mark_cloexec_from_proc();
}

/*
 * Opens every namespace file before the first setns(), because joining a mount
 * namespace changes how later paths resolve, and joining a user namespace can take
 * away the right to open another process's /proc/PID/ns files.
 */
static int join_namespaces(const struct plan *plan)
{
	int *fds = calloc((size_t)plan->join_count + 1, sizeof(*fds));

	if (fds == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < plan->join_count; i++) {
		fds[i] = open(plan->joins[i].path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return errno;
	}
	for (uint32_t i = 0; i < plan->join_count; i++) {
		if (setns(fds[i], (int)plan->joins[i].nstype) < 0)
			return errno;
		close(fds[i]);
	}
	free(fds);
	return 0;
}

/*
 * Writes the plan's clock offsets for the time namespace this process created but is
 * not a member of. The kernel accepts them only until a process enters the namespace,
 * so this must happen before the clone.
 */
static int write_time_offsets(const struct plan *plan)
{
	char text[128];
	size_t length = 0;
	int fd;
	int err = 0;

	if (plan->time_offset_count == 0)
		return 0;
	for (uint32_t i = 0; i < plan->time_offset_count; i++) {
		const struct plan_time_offset *offset = &plan->time_offsets[i];

		length += (size_t)snprintf(text + length, sizeof(text) - length, "%u %lld %lld\n",
					   offset->clock, (long long)offset->secs,
					   (long long)offset->nanosecs);
	}
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (write_full(fd, text, length) < 0)
		err = errno;
	close(fd);
	return err;
}

/*
 * Creates the time namespace with unshare(), which puts it in effect for children
 * only, so that the cloned child is its first member. The legacy clone syscall
 * cannot take CLONE_NEWTIME because 0x80 is part of its exit signal byte.
 */
static int unshare_time_namespace(struct plan *plan)
{
	if ((plan->clone_flags & CLONE_NEWTIME) == 0)
		return plan->time_offset_count == 0 ? 0 : EINVAL;
	if (unshare(CLONE_NEWTIME) < 0)
		return errno;
	plan->clone_flags &= ~(uint32_t)CLONE_NEWTIME;
	return write_time_offsets(plan);
}

/*
 * Runs the steps that must happen before the clone with the setup stage's privileges:
 * IDMAP_TREE, wherever it is in the plan. A failure is reported with the step's index.
 */
static noreturn void fail_setup_step(uint32_t index, int err)
{
	sync_send(SYNC_FD, SYNC_STEP_FAILED, (int32_t)index, err, STAGE_SETUP);
	exit(1);
}

static void run_setup_steps(struct plan *plan)
{
	for (uint32_t i = 0; i < plan->step_count; i++) {
		int err;

		if (plan->steps[i].op != OP_IDMAP_TREE)
			continue;
		err = idmap_tree(plan->setup_slots, plan->steps[i].args);
		if (err != 0)
			fail_setup_step(i, err);
	}
}

/*
 * Clones without a new stack, like fork. CLONE_PARENT makes the child a sibling of
 * the executor, so the Node parent can wait for it and open a pidfd for it without a
 * reuse race. clone3 (Linux 5.3) comes first; the legacy clone is the fallback, with
 * the argument order of x86-64 and arm64 (flags, stack, parent_tid, child_tid, tls).
 *
 * clone3 rejects CLONE_PARENT with a nonzero exit_signal (EINVAL), because the child
 * takes the executor's own exit signal, which is SIGCHLD when Node spawned it. The
 * legacy clone ignores the SIGCHLD in its flags for the same reason.
 */
static pid_t clone_child(uint32_t flags)
{
	struct clone_args args = {
		.flags = CLONE_PARENT | (uint64_t)flags,
		.exit_signal = 0,
	};
	long pid = syscall(SYS_clone3, &args, sizeof(args));

	if (pid < 0 && errno == ENOSYS)
		pid = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | flags | SIGCHLD), NULL,
			      NULL, NULL, NULL);
	return (pid_t)pid;
}

/*
 * Waits for the setup stage to send PID before running any step, so that PID is
 * always the first message the Node parent reads. A gate without a byte means the
 * setup stage could not send PID.
 */
static noreturn void run_child(const struct plan *plan, int gate[2])
{
	char byte;

	prctl(PR_SET_NAME, "bulkhead:child");
	close(gate[1]);
	if (read_full(gate[0], &byte, 1) != 1)
		_exit(1);
	close(gate[0]);
	steps_run(plan, SYNC_FD);
}

static noreturn void finish_setup(pid_t child, int gate[2])
{
	/* A child killed before it read the gate must not turn into a SIGPIPE here. */
	signal(SIGPIPE, SIG_IGN);
	close(gate[0]);
	if (sync_send(SYNC_FD, SYNC_PID, child, 0, 0) < 0)
		exit(1);
	if (write_full(gate[1], "", 1) < 0)
		exit(1);
	exit(0);
}

int main(void)
{
	struct plan plan;
	int gate[2];
	pid_t pid;
	int err;

	prepare_fds();
	prctl(PR_SET_NAME, "bulkhead:setup");

	err = plan_read(SYNC_FD, &plan);
	if (err == 0)
		err = join_namespaces(&plan);
	if (err != 0)
		fail_setup(err);
	/* Before the time namespace, so that the processes these fork stay out of it. */
	run_setup_steps(&plan);
	err = unshare_time_namespace(&plan);
	if (err != 0)
		fail_setup(err);

	if (pipe2(gate, O_CLOEXEC) < 0)
		fail_setup(errno);
	pid = clone_child(plan.clone_flags);
	if (pid < 0)
		fail_setup(errno);
	if (pid == 0)
		run_child(&plan, gate);
	finish_setup(pid, gate);
}
