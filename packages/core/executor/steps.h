/* Step execution in the child stage: one function per plan op. */
#ifndef BULKHEAD_STEPS_H
#define BULKHEAD_STEPS_H

#include <stdint.h>
#include <stdnoreturn.h>

#include "plan.h"

/*
 * State that steps share: the sync socket (fd 3 until PRESERVE_FDS moves it) and the slot
 * table. An empty slot is -1.
 */
struct child_context {
	int sync_fd;
	int slots[PLAN_SLOT_COUNT];
};

/* Runs one step. Returns 0, or the positive errno of the failed system call. */
typedef int step_function(struct child_context *context, const struct plan_arg *args);

const char *op_signature(uint32_t op);
noreturn void steps_run(const struct plan *plan, int sync_fd);
int root_fd(const struct child_context *context, const struct plan_arg *root, int *fd);
int check_id(int64_t id);

/* steps_fs.c */
step_function op_open_root, op_mount, op_mount_setattr, op_mkdir, op_symlink;
step_function op_pivot_root, op_move_root, op_write_file, op_open_path, op_wait_fifo;
step_function op_mount_nofollow, op_mount_slot, op_mknod;

/* steps_copy.c */
step_function op_open_in_root, op_copy_tree;

/* steps_proc.c */
step_function op_sethostname, op_setdomainname, op_chdir, op_setgroups, op_setresgid;
step_function op_setresuid, op_setrlimit, op_prctl, op_umask, op_unshare, op_capset;

/* steps_seccomp.c */
step_function op_seccomp;

/* steps_stdio.c */
step_function op_terminal, op_preserve_fds;
/* idmap.c */
step_function op_idmap_tree, op_move_mount;
int idmap_tree(int slots[PLAN_SLOT_COUNT], const struct plan_arg *args);
/* steps_net.c */
step_function op_link_up;

/* exec.c, init.c */
step_function op_exec, op_init;

#endif
