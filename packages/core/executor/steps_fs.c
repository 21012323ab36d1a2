/* Filesystem steps: slots, mounts, directories, symlinks, pivot_root and file writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "resolve.h"
#include "steps.h"
#include "sync.h"

static int errno_of(int rc)
{
	return rc < 0 ? errno : 0;
}

/* Replaces the slot's fd, if any, with an O_PATH fd of path opened with these extra flags. */
static int open_into_slot(struct child_context *context, const struct plan_arg *args, int flags)
{
	int fd = open(args[0].string, O_PATH | O_CLOEXEC | flags);
	int *slot = &context->slots[args[1].integer];

	if (fd < 0)
		return errno;
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
	return 0;
}

/* Opens the directory at path into the slot. */
int op_open_root(struct child_context *context, const struct plan_arg *args)
{
	return open_into_slot(context, args, O_DIRECTORY);
}

/* Opens whatever is at path into the slot, such as a FIFO. */
int op_open_path(struct child_context *context, const struct plan_arg *args)
{
	return open_into_slot(context, args, 0);
}

/*
 * Opens the FIFO held in the slot for writing, which blocks until another process opens it
 * for reading, then writes one byte so that reader knows the wait is over. The slot holds an
 * O_PATH fd opened before pivot_root, because the FIFO's path is outside the new root; it is
 * reopened through /proc/self/fd, so the container's /proc must be mounted by then.
 */
int op_wait_fifo(struct child_context *context, const struct plan_arg *args)
{
	char path[64];
	int slot = context->slots[args[0].integer];
	int fd, err;

	if (slot < 0)
		return EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", slot);
	do
		fd = open(path, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno;
	err = errno_of(write_full(fd, "0", 1));
	close(fd);
	return err;
}

static int mount_step(struct child_context *context, const struct plan_arg *args, int how)
{
	int64_t create = args[6].integer;
	int root, err;

	if (create < CREATE_NONE || create > CREATE_LIKE_SOURCE)
		return EINVAL;
	err = root_fd(context, &args[5], &root);
	if (err != 0)
		return err;
	return errno_of(resolve_mount(root, args[0].string, args[1].string, args[2].string,
				      (unsigned long)args[3].integer, args[4].string, (int)create,
				      how));
}

int op_mount(struct child_context *context, const struct plan_arg *args)
{
	return mount_step(context, args, MOUNT_FOLLOW);
}

/* MOUNT for procfs and sysfs: the target must be a real directory, reached without symlinks. */
int op_mount_nofollow(struct child_context *context, const struct plan_arg *args)
{
	return mount_step(context, args, MOUNT_NOFOLLOW_DIRECTORY);
}

/*
 * Mounts the object held in a slot on target, through /proc/self/fd/N: a bind of a file the
 * executor opened itself, such as the /dev/null that masks paths, which the container's
 * root filesystem cannot have swapped.
 */
int op_mount_slot(struct child_context *context, const struct plan_arg *args)
{
	char source[64];
	int64_t create = args[4].integer;
	int slot = context->slots[args[0].integer];
	int root, err;

	if (slot < 0)
		return EBADF;
	if (create < CREATE_NONE || create > CREATE_LIKE_SOURCE)
		return EINVAL;
	err = root_fd(context, &args[3], &root);
	if (err != 0)
		return err;
	snprintf(source, sizeof(source), "/proc/self/fd/%d", slot);
	return errno_of(resolve_mount(root, source, args[1].string, NULL,
				      (unsigned long)args[2].integer, NULL, (int)create, MOUNT_FOLLOW));
}

int op_mount_setattr(struct child_context *context, const struct plan_arg *args)
{
	struct mount_attr attr = {
		.attr_set = (uint64_t)args[2].integer,
		.attr_clr = (uint64_t)args[3].integer,
		.propagation = (uint64_t)args[4].integer,
	};
	int64_t flags = args[5].integer;
	int root, fd, rc, err;

	if (flags < 0 || flags > UINT_MAX)
		return EINVAL;
	err = root_fd(context, &args[1], &root);
	if (err != 0)
		return err;
	if (root < 0)
		return errno_of(mount_setattr(AT_FDCWD, args[0].string, (unsigned int)flags, &attr,
					      sizeof(attr)));

	fd = resolve_open(root, args[0].string, O_PATH, 0);
	if (fd < 0)
		return errno;
	rc = mount_setattr(fd, "", (unsigned int)flags | AT_EMPTY_PATH, &attr, sizeof(attr));
	err = errno_of(rc);
	close(fd);
	return err;
}

int op_mkdir(struct child_context *context, const struct plan_arg *args)
{
	int64_t mode = args[1].integer;
	int root, err;

	if (mode < 0 || mode > 07777)
		return EINVAL;
	err = root_fd(context, &args[2], &root);
	if (err != 0)
		return err;
	return errno_of(resolve_mkdir_all(root, args[0].string, (mode_t)mode));
}

/* Creates the symlink linkpath -> target. The parent of linkpath must exist. */
int op_symlink(struct child_context *context, const struct plan_arg *args)
{
	char buf[PATH_MAX];
	const char *name;
	int root, parent, err;

	err = root_fd(context, &args[2], &root);
	if (err != 0)
		return err;
	parent = resolve_open_parent(root, args[1].string, buf, &name);
	if (parent < 0)
		return errno;
	err = errno_of(symlinkat(args[0].string, parent, name));
	close(parent);
	return err;
}

/*
 * pivot_root(".", ".") stacks the old root on top of the new one at ".", so it can be
 * detached without a put_old directory inside the new root. The kernel rejects the
 * call with EINVAL unless the slot's directory is a mount point and neither it nor
 * its parent mount has shared propagation, so the plan has to bind-mount it and make
 * "/" private (MS_REC | MS_PRIVATE) first.
 */
int op_pivot_root(struct child_context *context, const struct plan_arg *args)
{
	int fd = context->slots[args[0].integer];

	if (fd < 0)
		return EBADF;
	if (fchdir(fd) < 0)
		return errno;
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return errno;
	if (umount2(".", MNT_DETACH) < 0)
		return errno;
	return errno_of(chdir("/"));
}

/*
 * MOVE_ROOT: for roots where pivot_root(2) fails, such as a root on the initramfs. Moves the
 * slot's mount onto "/" and chroots into it. Unlike pivot_root, the old root stays in the
 * mount namespace, hidden under the new one, and a process with CAP_SYS_CHROOT can still
 * reach the mounts of its namespace outside the root.
 */
int op_move_root(struct child_context *context, const struct plan_arg *args)
{
	int fd = context->slots[args[0].integer];

	if (fd < 0)
		return EBADF;
	if (fchdir(fd) < 0)
		return errno;
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return errno;
	if (chroot(".") < 0)
		return errno;
	return errno_of(chdir("/"));
}

/* Writes data to an existing file without truncating it, as procfs and sysfs files need. */
int op_write_file(struct child_context *context, const struct plan_arg *args)
{
	int root, fd, err;

	err = root_fd(context, &args[2], &root);
	if (err != 0)
		return err;
	fd = resolve_open(root, args[0].string, O_WRONLY | O_NOCTTY, 0);
	if (fd < 0)
		return errno;
	err = errno_of(write_full(fd, args[1].bytes, args[1].length));
	if (close(fd) < 0 && err == 0)
		err = errno;
	return err;
}

/* Sets the permission bits and owner of the node just created, through an O_PATH fd of it. */
static int set_node_attributes(int parent, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	char path[64];
	struct stat st;
	int fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0)
		err = errno;
	else if ((st.st_mode & S_IFMT) != (mode & S_IFMT))
		err = EEXIST;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* chmod through the magic link: fchmod(2) rejects O_PATH fds. */
	if (err == 0 && chmod(path, mode & 07777) < 0)
		err = errno;
	if (err == 0 && fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
		err = errno;
	close(fd);
	return err;
}

/*
 * Creates a character device, block device or FIFO at path, whose parent directory must
 * exist. mknod(2) applies the umask, so the mode's permission bits and the owner are set
 * afterwards on the node itself, never through a symlink.
 */
int op_mknod(struct child_context *context, const struct plan_arg *args)
{
	char buf[PATH_MAX];
	const char *name;
	int64_t mode = args[1].integer, major = args[2].integer, minor = args[3].integer;
	int64_t type = mode & S_IFMT;
	int root, parent, err;

	if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO)
		return EINVAL;
	if ((mode & ~(int64_t)(S_IFMT | 07777)) != 0 || major < 0 || major > UINT_MAX || minor < 0 ||
	    minor > UINT_MAX || check_id(args[4].integer) != 0 || check_id(args[5].integer) != 0)
		return EINVAL;
	err = root_fd(context, &args[6], &root);
	if (err != 0)
		return err;
	parent = resolve_open_parent(root, args[0].string, buf, &name);
	if (parent < 0)
		return errno;
	if (mknodat(parent, name, (mode_t)mode, makedev((unsigned int)major, (unsigned int)minor)) < 0)
		err = errno;
	else
		err = set_node_attributes(parent, name, (mode_t)mode, (uid_t)args[4].integer,
					  (gid_t)args[5].integer);
	close(parent);
	return err;
}
