/*
 * OPEN_IN_ROOT and COPY_TREE: a tmpfs mounted with tmpcopyup starts with the contents of the
 * directory it covers. OPEN_IN_ROOT keeps that directory open before the mount hides it, and
 * COPY_TREE copies what is in it into the new mount. Every name is opened relative to its
 * parent's fd without following symlinks, and symlinks are copied as symlinks, so nothing
 * outside the two directories is read or written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "resolve.h"
#include "steps.h"
#include "sync.h"

/* Deeper trees fail with ELOOP instead of running out of file descriptors. */
#define COPY_MAX_DEPTH 64
/* COPY_TREE flags: also give the destination directory the source's owner, mode and times. */
#define COPY_TOP_METADATA 1

static char copy_buffer[65536];

static int copy_entries(int from, int to, int depth);

/* Owner first: chown clears the set-user-ID and set-group-ID bits that chmod then sets. */
static int copy_metadata(int fd, const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0)
		return errno;
	return futimens(fd, times) < 0 ? errno : 0;
}

static int copy_data(int in, int out)
{
	for (;;) {
		ssize_t n = read(in, copy_buffer, sizeof(copy_buffer));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return 0;
		if (write_full(out, copy_buffer, (size_t)n) < 0)
			return errno;
	}
}

/* O_NONBLOCK: a FIFO put in place of the file after the fstatat must not block the open. */
static int copy_file(int from, int to, const char *name, const struct stat *st)
{
	struct stat opened;
	int in, out, err;

	in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0)
		return errno;
	err = fstat(in, &opened) < 0 ? errno : S_ISREG(opened.st_mode) ? 0 : EINVAL;
	if (err != 0) {
		close(in);
		return err;
	}
	out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		err = errno;
		close(in);
		return err;
	}
	err = copy_data(in, out);
	if (err == 0)
		err = copy_metadata(out, st);
	close(in);
	close(out);
	return err;
}

static int copy_directory(int from, int to, const char *name, const struct stat *st, int depth)
{
	int in, out, err;

	if (depth >= COPY_MAX_DEPTH)
		return ELOOP;
	if (mkdirat(to, name, 0700) < 0)
		return errno;
	in = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return errno;
	out = openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out < 0) {
		err = errno;
		close(in);
		return err;
	}
	err = copy_entries(in, out, depth + 1);
	if (err == 0)
		err = copy_metadata(out, st);
	close(out);
	close(in);
	return err;
}

static int copy_symlink(int from, int to, const char *name, const struct stat *st)
{
	char target[PATH_MAX];
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	ssize_t n = readlinkat(from, name, target, sizeof(target) - 1);

	if (n < 0)
		return errno;
	target[n] = '\0';
	if (symlinkat(target, to, name) < 0 || fchownat(to, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	return utimensat(to, name, times, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
}

/* Device nodes and FIFOs are made anew; sockets are skipped, since no process listens on a copy. */
static int copy_node(int to, const char *name, const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (S_ISSOCK(st->st_mode))
		return 0;
	if (mknodat(to, name, st->st_mode & (S_IFMT | 0700), st->st_rdev) < 0)
		return errno;
	if (fchownat(to, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(to, name, st->st_mode & 07777, 0) < 0)
		return errno;
	return utimensat(to, name, times, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
}

static int copy_entry(int from, int to, const char *name, int depth)
{
	struct stat st;

	if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	if (S_ISREG(st.st_mode))
		return copy_file(from, to, name, &st);
	if (S_ISDIR(st.st_mode))
		return copy_directory(from, to, name, &st, depth);
	if (S_ISLNK(st.st_mode))
		return copy_symlink(from, to, name, &st);
	return copy_node(to, name, &st);
}

/* Copies every entry of directory from into directory to. Neither fd is closed. */
static int copy_entries(int from, int to, int depth)
{
	struct dirent *entry;
	DIR *dir;
	int fd, err = 0;

	fd = openat(from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	dir = fdopendir(fd);
	if (dir == NULL) {
		err = errno;
		close(fd);
		return err;
	}
	for (errno = 0; err == 0 && (entry = readdir(dir)) != NULL; errno = 0) {
		if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
			err = copy_entry(from, to, entry->d_name, depth);
	}
	if (err == 0 && errno != 0)
		err = errno;
	closedir(dir);
	return err;
}

/* Opens the directory at path, resolved inside root, into the slot; the slot is emptied first. */
int op_open_in_root(struct child_context *context, const struct plan_arg *args)
{
	int *slot = &context->slots[args[2].integer];
	int root, fd, err;

	if (*slot >= 0)
		close(*slot);
	*slot = -1;
	err = root_fd(context, &args[1], &root);
	if (err != 0)
		return err;
	fd = resolve_open(root, args[0].string, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	*slot = fd;
	return 0;
}

/*
 * Copies the contents of the directory in the slot into the directory at target, then closes
 * and empties the slot. An empty slot copies nothing: the directory did not exist (OPEN_IN_ROOT
 * failed with a tolerated ENOENT).
 */
int op_copy_tree(struct child_context *context, const struct plan_arg *args)
{
	int *slot = &context->slots[args[0].integer];
	int64_t flags = args[3].integer;
	struct stat st;
	int root, to, err;

	if (flags < 0 || flags > COPY_TOP_METADATA)
		return EINVAL;
	if (*slot < 0)
		return 0;
	err = root_fd(context, &args[2], &root);
	if (err != 0)
		return err;
	to = resolve_open(root, args[1].string, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (to < 0)
		return errno;
	err = copy_entries(*slot, to, 0);
	if (err == 0 && (flags & COPY_TOP_METADATA) != 0)
		err = fstat(*slot, &st) < 0 ? errno : copy_metadata(to, &st);
	close(to);
	close(*slot);
	*slot = -1;
	return err;
}
