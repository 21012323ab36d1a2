/*
 * Path resolution for steps. A root fd of -1 means a path in the current mount
 * namespace. Any other root fd confines resolution to that directory with openat2
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so absolute symlinks and ".." inside a root
 * filesystem resolve inside it and never reach the host.
 */
#ifndef BULKHEAD_RESOLVE_H
#define BULKHEAD_RESOLVE_H

#include <limits.h>
#include <sys/types.h>

/* Values of MOUNT's create arg. */
enum mount_create {
	CREATE_NONE = 0,
	CREATE_DIRECTORY = 1,
	CREATE_FILE = 2,
	CREATE_LIKE_SOURCE = 3,
};

int resolve_open_parent(int root, const char *path, char buf[PATH_MAX], const char **name);
int resolve_mkdir_all(int root, const char *path, mode_t mode);
/* Values of resolve_mount's how arg. */
enum mount_resolve {
	/* Follow symlinks inside root, as RESOLVE_IN_ROOT does. */
	MOUNT_FOLLOW = 0,
	/* Fail with ELOOP at any symlink on the way, and with ENOTDIR unless the target is a directory. */
	MOUNT_NOFOLLOW_DIRECTORY = 1,
};

int resolve_open(int root, const char *path, int flags, mode_t mode);
int resolve_mount(int root, const char *source, const char *target, const char *fstype,
		  unsigned long flags, const char *data, int create, int how);

#endif
