/*
 * Idmapped mounts. The kernel lets only a caller with CAP_SYS_ADMIN in the user namespace
 * that mounted the filesystem (the initial one for a host directory) idmap a mount, which
 * the container process in its own user namespace is not. So IDMAP_TREE runs in the
 * setup stage, before the clone: it clones the source tree as a detached mount, idmaps
 * it with a user namespace that carries the step's maps, and leaves it in a slot. The
 * child inherits the slot and attaches the tree with MOVE_MOUNT inside the container's
 * mount namespace, where the setup stage cannot reach.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resolve.h"
#include "steps.h"
#include "sync.h"

/* The kernel's limit on lines in uid_map and gid_map (Linux 4.15). */
#define MAX_MAP_LINES 340

/* IDMAP_TREE flags. */
#define IDMAP_TREE_RECURSIVE 1u   /* clone the submounts too (rbind) */
#define IDMAP_RECURSIVE 2u        /* idmap the submounts too (ridmap) */

/* Formats a map arg (u32 containerID, hostID, size triples) as uid_map text; returns 0 or an errno. */
static int format_map(const struct plan_arg *map, char **out, size_t *length)
{
	size_t lines = map->length / 12;
	char *text;
	size_t used = 0;

	if (map->length % 12 != 0 || lines == 0 || lines > MAX_MAP_LINES)
		return EINVAL;
	text = malloc(lines * 36 + 1);
	if (text == NULL)
		return ENOMEM;
	for (size_t i = 0; i < lines; i++) {
		uint32_t field[3];

		memcpy(field, map->bytes + i * 12, sizeof(field));
		used += (size_t)snprintf(text + used, 37, "%u %u %u\n", field[0], field[1], field[2]);
	}
	*out = text;
	*length = used;
	return 0;
}

static int write_map(pid_t pid, const char *name, const struct plan_arg *map)
{
	char path[64];
	char *text;
	size_t length;
	int fd, err;

	err = format_map(map, &text, &length);
	if (err != 0)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
	} else {
		/* The kernel takes a map only in one write. */
		if (write(fd, text, length) != (ssize_t)length)
			err = errno != 0 ? errno : EIO;
		close(fd);
	}
	free(text);
	return err;
}

/*
 * Opens a user namespace with these maps: a forked process unshares it and waits until
 * the maps are written and its namespace file is open, then exits. The namespace lives on
 * through the returned fd.
 */
static int open_mapped_userns(const struct plan_arg *uid_map, const struct plan_arg *gid_map, int *out)
{
	int ready[2], hold[2];
	char path[64], byte;
	pid_t pid;
	int err = 0;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return errno;
	if (pipe2(hold, O_CLOEXEC) < 0)
		return errno;
	pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		if (unshare(CLONE_NEWUSER) < 0 || write(ready[1], "", 1) != 1)
			_exit(1);
		/* Returns at end-of-file, when the setup stage is done with the namespace. */
		_exit(read(hold[0], &byte, 1) < 0 ? 1 : 0);
	}
	close(ready[1]);
	close(hold[0]);
	if (read_full(ready[0], &byte, 1) != 1)
		err = ECHILD;
	if (err == 0)
		err = write_map(pid, "uid_map", uid_map);
	if (err == 0)
		err = write_map(pid, "gid_map", gid_map);
	if (err == 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		*out = open(path, O_RDONLY | O_CLOEXEC);
		if (*out < 0)
			err = errno;
	}
	close(hold[1]);
	close(ready[0]);
	waitpid(pid, NULL, 0);
	return err;
}

/* IDMAP_TREE (setup stage): source s, slot f, flags i, uid_map b, gid_map b. */
int idmap_tree(int slots[PLAN_SLOT_COUNT], const struct plan_arg *args)
{
	int64_t flags = args[2].integer;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP };
	unsigned int recursive_tree, recursive_idmap;
	int userns = -1, tree, err;

	if (flags < 0 || (flags & ~(int64_t)(IDMAP_TREE_RECURSIVE | IDMAP_RECURSIVE)) != 0)
		return EINVAL;
	recursive_tree = (flags & IDMAP_TREE_RECURSIVE) != 0 ? AT_RECURSIVE : 0;
	recursive_idmap = (flags & IDMAP_RECURSIVE) != 0 ? AT_RECURSIVE : 0;

	err = open_mapped_userns(&args[3], &args[4], &userns);
	if (err != 0)
		return err;
	tree = open_tree(AT_FDCWD, args[0].string, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive_tree);
	if (tree < 0) {
		err = errno;
		close(userns);
		return err;
	}
	attr.userns_fd = (uint64_t)userns;
	if (mount_setattr(tree, "", AT_EMPTY_PATH | recursive_idmap, &attr, sizeof(attr)) < 0)
		err = errno;
	close(userns);
	if (err != 0) {
		close(tree);
		return err;
	}
	if (slots[args[1].integer] >= 0)
		close(slots[args[1].integer]);
	slots[args[1].integer] = tree;
	return 0;
}

/* IDMAP_TREE in the child stage: the setup stage has done it already. */
int op_idmap_tree(struct child_context *context, const struct plan_arg *args)
{
	(void)context;
	(void)args;
	return 0;
}

/* MOVE_MOUNT: slot f, target s, root r. Attaches the detached tree in the slot at target and empties the slot. */
int op_move_mount(struct child_context *context, const struct plan_arg *args)
{
	int *slot = &context->slots[args[0].integer];
	int root, target, err;

	if (*slot < 0)
		return EBADF;
	err = root_fd(context, &args[2], &root);
	if (err != 0)
		return err;
	target = resolve_open(root, args[1].string, O_PATH, 0);
	if (target < 0)
		return errno;
	if (move_mount(*slot, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		err = errno;
	close(target);
	if (err == 0) {
		close(*slot);
		*slot = -1;
	}
	return err;
}
