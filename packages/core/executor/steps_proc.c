/* Process attribute steps: UTS names, working directory, credentials, limits, prctl, umask, unshare, capset. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "steps.h"

static int errno_of(int rc)
{
	return rc < 0 ? errno : 0;
}

/*
 * Rejects ids outside 0..UINT32_MAX - 1, because (uid_t)-1 would make
 * setresuid and setresgid leave the id unchanged and report success.
 */
static int check_id(int64_t id)
{
	return id >= 0 && id < (int64_t)UINT32_MAX ? 0 : EINVAL;
}

int op_sethostname(struct child_context *context, const struct plan_arg *args)
{
	(void)context;
	return errno_of(sethostname(args[0].string, strlen(args[0].string)));
}

int op_setdomainname(struct child_context *context, const struct plan_arg *args)
{
	(void)context;
	return errno_of(setdomainname(args[0].string, strlen(args[0].string)));
}

int op_chdir(struct child_context *context, const struct plan_arg *args)
{
	(void)context;
	return errno_of(chdir(args[0].string));
}

/* Calls setgroups with the arg's little-endian u32 gids. */
int op_setgroups(struct child_context *context, const struct plan_arg *args)
{
	const uint8_t *bytes = args[0].bytes;
	size_t count = args[0].length / 4;
	gid_t *gids;
	int err;

	(void)context;
	if (args[0].length % 4 != 0)
		return EINVAL;
	gids = calloc(count + 1, sizeof(*gids));
	if (gids == NULL)
		return ENOMEM;
	for (size_t i = 0; i < count; i++) {
		const uint8_t *b = bytes + 4 * i;

		gids[i] = (gid_t)b[0] | (gid_t)b[1] << 8 | (gid_t)b[2] << 16 | (gid_t)b[3] << 24;
	}
	err = errno_of(setgroups(count, gids));
	free(gids);
	return err;
}

int op_setresgid(struct child_context *context, const struct plan_arg *args)
{
	gid_t gid = (gid_t)args[0].integer;

	(void)context;
	if (check_id(args[0].integer) != 0)
		return EINVAL;
	return errno_of(setresgid(gid, gid, gid));
}

int op_setresuid(struct child_context *context, const struct plan_arg *args)
{
	uid_t uid = (uid_t)args[0].integer;

	(void)context;
	if (check_id(args[0].integer) != 0)
		return EINVAL;
	return errno_of(setresuid(uid, uid, uid));
}

/* Converts a limit arg: -1 is RLIM_INFINITY, any other negative value is invalid. */
static int to_rlim(int64_t value, rlim_t *out)
{
	if (value < -1)
		return EINVAL;
	*out = value == -1 ? RLIM_INFINITY : (rlim_t)value;
	return 0;
}

int op_setrlimit(struct child_context *context, const struct plan_arg *args)
{
	struct rlimit limit;

	(void)context;
	if (args[0].integer < 0 || args[0].integer > INT32_MAX)
		return EINVAL;
	if (to_rlim(args[1].integer, &limit.rlim_cur) != 0)
		return EINVAL;
	if (to_rlim(args[2].integer, &limit.rlim_max) != 0)
		return EINVAL;
	return errno_of(prlimit(0, (__rlimit_resource_t)args[0].integer, &limit, NULL));
}

/* Calls prctl. Some options return a positive value on success, so only -1 is a failure. */
int op_prctl(struct child_context *context, const struct plan_arg *args)
{
	(void)context;
	if (args[0].integer < 0 || args[0].integer > INT32_MAX)
		return EINVAL;
	return errno_of(prctl((int)args[0].integer, (unsigned long)args[1].integer,
			      (unsigned long)args[2].integer, (unsigned long)args[3].integer,
			      (unsigned long)args[4].integer));
}

int op_umask(struct child_context *context, const struct plan_arg *args)
{
	(void)context;
	if (args[0].integer < 0 || args[0].integer > 0777)
		return EINVAL;
	umask((mode_t)args[0].integer);
	return 0;
}

/*
 * unshare(2) after clone, for namespaces that must be created only once the parent has
 * placed the process: a cgroup namespace is rooted at the cgroup the process is in when it
 * unshares, so it follows the attach barrier at which the parent moves it into its cgroup.
 */
int op_unshare(struct child_context *context, const struct plan_arg *args)
{
	(void)context;
	if (args[0].integer <= 0 || args[0].integer > INT_MAX)
		return EINVAL;
	return unshare((int)args[0].integer) < 0 ? errno : 0;
}

/*
 * capset(2) with _LINUX_CAPABILITY_VERSION_3: the effective, permitted and inheritable sets
 * as 64-bit masks, bit N for capability N. glibc has no wrapper, and libcap is not used, so
 * the two 32-bit halves of each mask go into the two data structs by hand. A negative mask is
 * EINVAL, because bit 63 is no capability and a sign-extended value would be a mistake.
 */
int op_capset(struct child_context *context, const struct plan_arg *args)
{
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int64_t effective = args[0].integer;
	int64_t permitted = args[1].integer;
	int64_t inheritable = args[2].integer;

	(void)context;
	if (effective < 0 || permitted < 0 || inheritable < 0)
		return EINVAL;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		data[i].effective = (uint32_t)((uint64_t)effective >> (32 * i));
		data[i].permitted = (uint32_t)((uint64_t)permitted >> (32 * i));
		data[i].inheritable = (uint32_t)((uint64_t)inheritable >> (32 * i));
	}
	return syscall(SYS_capset, &header, data) < 0 ? errno : 0;
}
