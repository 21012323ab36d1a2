/* The EXEC step: execve with a PATH search that takes PATH from the new environment. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "steps.h"

/* Search path when envp has no PATH entry. It matches the one in the plan format. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *find_path(char *const envp[])
{
	for (size_t i = 0; envp[i] != NULL; i++) {
		if (strncmp(envp[i], "PATH=", 5) == 0)
			return envp[i] + 5;
	}
	return DEFAULT_PATH;
}

/*
 * Tries file in one PATH entry (an empty entry means the working directory). Returns
 * only when execve failed, with its errno, or ENAMETOOLONG when the name does not fit.
 */
static int try_directory(const char *dir, size_t dir_length, const char *file,
			 char *const argv[], char *const envp[])
{
	char candidate[PATH_MAX];
	size_t file_length = strlen(file);

	if (dir_length + 1 + file_length >= sizeof(candidate))
		return ENAMETOOLONG;
	if (dir_length == 0) {
		memcpy(candidate, file, file_length + 1);
	} else {
		memcpy(candidate, dir, dir_length);
		candidate[dir_length] = '/';
		memcpy(candidate + dir_length + 1, file, file_length + 1);
	}
	execve(candidate, argv, envp);
	return errno;
}

/*
 * Searches PATH like execvpe: errors that mean "not in this directory" move on to the
 * next entry, and any other error stops the search. The result is EACCES if some entry
 * had the file but not executable, else ENOENT. Unlike execvpe, ENOEXEC does not fall
 * back to running the file with /bin/sh, because that would choose a program for the
 * plan.
 */
static int search_path(const char *file, char *const argv[], char *const envp[])
{
	const char *dir = find_path(envp);
	int seen_eacces = 0;

	for (;;) {
		const char *end = strchrnul(dir, ':');
		int err = try_directory(dir, (size_t)(end - dir), file, argv, envp);

		switch (err) {
		case EACCES:
			seen_eacces = 1;
			break;
		case ENOENT:
		case ENOTDIR:
		case ESTALE:
		case ENODEV:
		case ETIMEDOUT:
		case ENAMETOOLONG:
			break;
		default:
			return err;
		}
		if (*end == '\0')
			break;
		dir = end + 1;
	}
	return seen_eacces ? EACCES : ENOENT;
}

/* Replaces the child with file. fd 3 is close-on-exec, so the parent reads end-of-file on success. */
int op_exec(struct child_context *context, const struct plan_arg *args)
{
	const char *file = args[0].string;
	char *const *argv = args[1].vector;
	char *const *envp = args[2].vector;

	(void)context;
	if (file[0] == '\0')
		return ENOENT;
	if (strchr(file, '/') != NULL) {
		execve(file, argv, envp);
		return errno;
	}
	return search_path(file, argv, envp);
}
