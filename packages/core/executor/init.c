/*
 * The INIT step. The child forks: the parent stays behind as a minimal init (usually
 * PID 1 of a new PID namespace), and the forked process continues the plan and execs
 * the container's program.
 *
 * The init blocks every signal and takes them with sigwaitinfo instead of installing
 * handlers. That leaves no window between fork and handler setup in which a signal
 * could kill the init or get lost, and nothing runs in signal context. It still
 * works for PID 1 of a PID namespace: the kernel drops signals that such an init
 * leaves at SIG_DFL, but blocked signals are always queued (see sig_ignored in
 * kernel/signal.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdnoreturn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "steps.h"

static int exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*
 * Reaps every child that has exited, including orphans reparented to the init, and
 * exits with the main child's code once it is among them.
 */
static void reap_children(pid_t main_child)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		/* ECHILD before main_child was reaped should be impossible. Exit rather than spin. */
		if (pid < 0 && errno == ECHILD)
			_exit(1);
		if (pid <= 0)
			return;
		if (pid == main_child)
			_exit(exit_code(status));
	}
}

/*
 * Closes every fd above stdio: the sync socket, the slot fds and anything the Node
 * parent leaked, which the rest of the plan only marked close-on-exec. The init never
 * execs, so without this its copies would stay open for the container's lifetime. The
 * parent in particular waits for end-of-file on the socket to learn that EXEC
 * succeeded. A slot fd could also give processes that can ptrace the init a way
 * into a directory outside the container's root.
 */
static void close_inherited_fds(struct child_context *context)
{
	if (close_range(3, ~0U, 0) == 0)
		return;

	/* close_range needs Linux 5.9. Without it, close the fds the executor opened itself. */
	close(context->sync_fd);
	for (int i = 0; i < PLAN_SLOT_COUNT; i++) {
		if (context->slots[i] >= 0)
			close(context->slots[i]);
	}
}

/* Forwards every signal except SIGCHLD to main_child until main_child exits. */
static noreturn void run_init(struct child_context *context, pid_t main_child)
{
	sigset_t all;

	prctl(PR_SET_NAME, "bulkhead:init");
	close_inherited_fds(context);
	sigfillset(&all);
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&all, &info);

		if (sig < 0)
			continue;
		if (sig == SIGCHLD)
			reap_children(main_child);
		else
			kill(main_child, sig);
	}
}

/*
 * Signals are blocked across fork so that none arrives before the init waits for it.
 * SIGCHLD is set to SIG_DFL first, because with an inherited SIG_IGN the kernel would
 * reap the main child itself and its exit status would be lost. The forked process
 * gets the previous mask and SIGCHLD action back before it continues the plan.
 */
int op_init(struct child_context *context, const struct plan_arg *args)
{
	struct sigaction default_action = { .sa_handler = SIG_DFL };
	struct sigaction old_action;
	sigset_t all, old_mask;
	pid_t pid;
	int err;

	(void)args;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old_mask);
	sigaction(SIGCHLD, &default_action, &old_action);

	pid = fork();
	if (pid > 0)
		run_init(context, pid);

	err = pid < 0 ? errno : 0;
	sigaction(SIGCHLD, &old_action, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return err;
}
