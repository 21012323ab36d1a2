#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Mode of directories created as missing parents, and of files created as mount targets. */
#define PARENT_DIRECTORY_MODE 0755
#define TARGET_FILE_MODE 0644

/*
 * openat2 returns EAGAIN under RESOLVE_IN_ROOT when a concurrent rename or mount could
 * have let ".." escape, and openat2(2) leaves the retry to the caller.
 * NOTE: the bound is a guess. It only keeps a hostile loop of renames from spinning
 * the executor forever.
 */
#define OPENAT2_MAX_RETRIES 32

/*
 * Opens path like openat(2), confined to root unless root is -1, with extra RESOLVE_*
 * flags for openat2. Returns an fd or -1.
 */
static int resolve_open_how(int root, const char *path, int flags, mode_t mode, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve,
	};

	if (root < 0)
		return openat(AT_FDCWD, path, flags | O_CLOEXEC, mode);

	/* openat2 rejects a nonzero mode unless the call can create a file. */
	if (flags & (O_CREAT | __O_TMPFILE))
		how.mode = mode;
	for (int attempt = 0;; attempt++) {
		long fd = syscall(SYS_openat2, root, path, &how, sizeof(how));

		if (fd >= 0 || errno != EAGAIN || attempt == OPENAT2_MAX_RETRIES)
			return (int)fd;
	}
}

/* Opens path like openat(2), confined to root unless root is -1. Returns an fd or -1. */
int resolve_open(int root, const char *path, int flags, mode_t mode)
{
	return resolve_open_how(root, path, flags, mode, 0);
}

/*
 * Copies path into buf and splits it into the parent directory and the final
 * component, ignoring trailing slashes. For "/" the final component is empty.
 */
static int split_path(const char *path, char buf[PATH_MAX], const char **parent,
		      const char **name)
{
	size_t length = strnlen(path, PATH_MAX);
	char *slash;

	if (length == PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, length + 1);
	while (length > 1 && buf[length - 1] == '/')
		buf[--length] = '\0';

	slash = strrchr(buf, '/');
	if (slash == NULL) {
		*parent = ".";
		*name = buf;
	} else if (slash == buf) {
		*parent = "/";
		*name = slash + 1;
	} else {
		*slash = '\0';
		*parent = buf;
		*name = slash + 1;
	}
	return 0;
}

/*
 * Opens the directory that contains path (O_PATH) and points *name at the final
 * component inside buf. Returns an fd or -1. The final component itself is not
 * resolved, so a call like symlinkat or mkdirat on it acts on the entry itself.
 */
int resolve_open_parent(int root, const char *path, char buf[PATH_MAX], const char **name)
{
	const char *parent;

	if (split_path(path, buf, &parent, name) < 0)
		return -1;
	return resolve_open(root, parent, O_PATH | O_DIRECTORY, 0);
}

/*
 * Creates path as a directory unless it already resolves to one. EEXIST from mkdirat
 * counts as success, and resolve_mkdir_all checks the whole path at the end.
 */
static int make_directory(int root, const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	const char *name;
	int fd = resolve_open(root, path, O_PATH | O_DIRECTORY, 0);
	int parent, err;

	if (fd >= 0)
		return close(fd);
	if (errno != ENOENT)
		return -1;
	parent = resolve_open_parent(root, path, buf, &name);
	if (parent < 0)
		return -1;
	err = mkdirat(parent, name, mode) < 0 ? errno : 0;
	close(parent);
	if (err != 0 && err != EEXIST) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * Creates path and its missing parents like mkdir -p: parents get mode 0755 and the
 * last component gets mode, both subject to the umask. Each prefix is resolved from
 * root again, so a symlink met on the way is followed inside root. An entry that
 * exists but does not resolve to a directory (a file, a dangling symlink) makes the
 * final check fail with ENOTDIR or ENOENT.
 */
int resolve_mkdir_all(int root, const char *path, mode_t mode)
{
	char prefix[PATH_MAX];
	size_t length = strnlen(path, PATH_MAX);
	size_t i = 0;
	int fd = resolve_open(root, path, O_PATH | O_DIRECTORY, 0);

	if (fd >= 0)
		return close(fd);
	if (errno != ENOENT)
		return -1;
	if (length == PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(prefix, path, length + 1);

	while (i < length) {
		size_t end = i;
		int is_last;

		if (prefix[i] == '/') {
			i++;
			continue;
		}
		while (end < length && prefix[end] != '/')
			end++;
		is_last = path[end + strspn(path + end, "/")] == '\0';
		prefix[end] = '\0';
		if (make_directory(root, prefix, is_last ? mode : PARENT_DIRECTORY_MODE) < 0)
			return -1;
		prefix[end] = path[end];
		i = end;
	}

	fd = resolve_open(root, path, O_PATH | O_DIRECTORY, 0);
	return fd < 0 ? -1 : close(fd);
}

/* Dangling symlinks followed while creating one file, as many as Linux's MAXSYMLINKS. */
#define MAX_DANGLING_LINKS 40

/*
 * Writes into next the path that path's last component, a symlink, names inside root: its
 * target when absolute, else the target appended to the symlink's directory. Returns 0, or -1
 * when the last component is not a symlink.
 */
static int symlink_target(int root, const char *path, char next[PATH_MAX])
{
	char buf[PATH_MAX], target[PATH_MAX];
	const char *parent, *name;
	ssize_t length;
	int dir, written;

	if (split_path(path, buf, &parent, &name) < 0)
		return -1;
	dir = resolve_open(root, parent, O_PATH | O_DIRECTORY, 0);
	if (dir < 0)
		return -1;
	length = readlinkat(dir, name, target, sizeof(target) - 1);
	close(dir);
	if (length < 0)
		return -1;
	target[length] = '\0';
	if (target[0] == '/')
		written = snprintf(next, PATH_MAX, "%s", target);
	else
		written = snprintf(next, PATH_MAX, "%s/%s", parent, target);
	if (written >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Creates an empty regular file at path, and its missing parents, unless path exists. When
 * path ends in a dangling symlink whose target's directory is missing, such as an image's
 * /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, the target's parents are
 * created instead. Every path is resolved inside root, so the created file is always there.
 */
static int create_file(int root, const char *path)
{
	char current[PATH_MAX], buf[PATH_MAX];
	const char *parent, *name;
	int fd = resolve_open(root, path, O_PATH, 0);

	if (fd >= 0)
		return close(fd);
	if (errno != ENOENT)
		return -1;
	if (strnlen(path, PATH_MAX) == PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(current, path);

	for (int links = 0;; links++) {
		char next[PATH_MAX];

		if (split_path(current, buf, &parent, &name) < 0)
			return -1;
		if (resolve_mkdir_all(root, parent, PARENT_DIRECTORY_MODE) < 0)
			return -1;
		/* O_NONBLOCK: if a FIFO appeared here since the check above, open must not block. */
		fd = resolve_open(root, current, O_RDONLY | O_CREAT | O_NONBLOCK | O_NOCTTY,
				  TARGET_FILE_MODE);
		if (fd >= 0)
			return close(fd);
		if (errno != ENOENT || links == MAX_DANGLING_LINKS)
			return -1;
		if (symlink_target(root, current, next) < 0) {
			errno = ENOENT;
			return -1;
		}
		strcpy(current, next);
	}
}

/* Creates the mount target as create specifies. Directory targets get mode 0755. */
static int prepare_target(int root, const char *source, const char *target, int create)
{
	struct stat st;

	if (create == CREATE_LIKE_SOURCE) {
		if (source == NULL) {
			errno = EINVAL;
			return -1;
		}
		/* The source is a path in the current mount namespace, never inside root. */
		if (stat(source, &st) < 0)
			return -1;
		create = S_ISDIR(st.st_mode) ? CREATE_DIRECTORY : CREATE_FILE;
	}
	switch (create) {
	case CREATE_DIRECTORY:
		return resolve_mkdir_all(root, target, PARENT_DIRECTORY_MODE);
	case CREATE_FILE:
		return create_file(root, target);
	default:
		errno = EINVAL;
		return -1;
	}
}

/*
 * Per-mount flags that the kernel locks when a mount is copied into a less privileged
 * mount namespace (MNT_LOCK_NOSUID, _NODEV, _NOEXEC and _ATIME in fs/namespace.c). A bind
 * remount that leaves one of them out fails with EPERM. statfs(2) reports them with the
 * same bit values as MS_*, except ST_RELATIME.
 */
#define LOCKABLE_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define ATIME_FLAGS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)
#define STATFS_ST_RELATIME 0x1000

/*
 * Returns flags with the target's current nosuid, nodev and noexec added, and its atime
 * mode when flags name none. path is how mount(2) reaches the target.
 */
static int flags_with_current(const char *path, unsigned long flags, unsigned long *out)
{
	struct statfs st;

	if (statfs(path, &st) < 0)
		return -1;
	*out = flags | ((unsigned long)st.f_flags & LOCKABLE_FLAGS);
	if ((flags & ATIME_FLAGS) == 0) {
		if (st.f_flags & MS_NOATIME)
			*out |= MS_NOATIME;
		else if (st.f_flags & STATFS_ST_RELATIME)
			*out |= MS_RELATIME;
		else
			*out |= MS_STRICTATIME;
		*out |= (unsigned long)st.f_flags & MS_NODIRATIME;
	}
	return 0;
}

/*
 * mount(2), except that a bind remount refused with EPERM is tried once more with the
 * flags the kernel may have locked. In a user namespace a read-only remount that drops a
 * locked nosuid must keep it rather than fail. If the second try fails too, the step
 * fails with the second errno, so the mount is never left writable in silence.
 */
static int mount_keeping_locked(const char *source, const char *target, const char *fstype,
				unsigned long flags, const char *data)
{
	unsigned long retry;

	if (mount(source, target, fstype, flags, data) == 0)
		return 0;
	if (errno != EPERM || (flags & (MS_REMOUNT | MS_BIND)) != (MS_REMOUNT | MS_BIND))
		return -1;
	if (flags_with_current(target, flags, &retry) < 0)
		return -1;
	if (retry == flags) {
		errno = EPERM;
		return -1;
	}
	return mount(source, target, fstype, retry, data);
}

/*
 * Mounts source on target, creating the target first unless create is CREATE_NONE. Inside
 * a root, the target is opened O_PATH with openat2 and mount(2) is given the magic link
 * /proc/self/fd/N, so the mount lands on the object that was resolved inside root even
 * if a symlink is swapped in afterwards. That needs a procfs mounted at /proc in the
 * current mount namespace, which after PIVOT_ROOT is the container's own /proc. With how
 * MOUNT_NOFOLLOW_DIRECTORY, the target must be a directory reached without any symlink.
 */
int resolve_mount(int root, const char *source, const char *target, const char *fstype,
		  unsigned long flags, const char *data, int create, int how)
{
	char proc_path[64];
	int fd, rc, err;

	if (how == MOUNT_NOFOLLOW_DIRECTORY && root < 0) {
		errno = EINVAL;
		return -1;
	}
	if (create != CREATE_NONE && prepare_target(root, source, target, create) < 0)
		return -1;
	if (root < 0)
		return mount_keeping_locked(source, target, fstype, flags, data);

	if (how == MOUNT_NOFOLLOW_DIRECTORY)
		fd = resolve_open_how(root, target, O_PATH | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS);
	else
		fd = resolve_open(root, target, O_PATH, 0);
	if (fd < 0)
		return -1;
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
	/* A bind without a source binds the resolved target onto itself (read-only paths). */
	if (source == NULL && (flags & MS_BIND) && !(flags & MS_REMOUNT))
		source = proc_path;
	rc = mount_keeping_locked(source, proc_path, fstype, flags, data);
	err = errno;
	close(fd);
	errno = err;
	return rc;
}
