/*
 * Plan decoding. Every length and count is checked against the bytes left before it is
 * used, so a malformed plan yields EINVAL (reported as STEP_FAILED -1) instead of a
 * crash. Allocations are never freed on error because the executor exits right after.
 */
#include "plan.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "steps.h"
#include "sync.h"

#define CLONE_NEW_MASK                                                                   \
	((uint32_t)(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |        \
		    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME))

struct cursor {
	const uint8_t *p;
	size_t left;
};

static int take(struct cursor *c, size_t n, const uint8_t **out)
{
	if (n > c->left)
		return EINVAL;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

static int take_u32(struct cursor *c, uint32_t *value)
{
	const uint8_t *b;

	if (take(c, 4, &b) != 0)
		return EINVAL;
	*value = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		 (uint32_t)b[3] << 24;
	return 0;
}

static int take_i64(struct cursor *c, int64_t *value)
{
	uint32_t low, high;

	if (take_u32(c, &low) != 0 || take_u32(c, &high) != 0)
		return EINVAL;
	*value = (int64_t)((uint64_t)high << 32 | low);
	return 0;
}

/* Checks that count items of at least min_size bytes each can still follow. */
static int check_count(const struct cursor *c, uint32_t count, size_t min_size)
{
	return count > c->left / min_size ? EINVAL : 0;
}

/* Takes a u32 length and that many bytes, and returns a NUL-terminated copy. */
static int take_string(struct cursor *c, char **out)
{
	uint32_t length;
	const uint8_t *bytes;

	if (take_u32(c, &length) != 0 || take(c, length, &bytes) != 0)
		return EINVAL;
	if (memchr(bytes, '\0', length) != NULL)
		return EINVAL;
	*out = strndup((const char *)bytes, length);
	return *out == NULL ? ENOMEM : 0;
}

static int take_vector(struct cursor *c, char ***out)
{
	uint32_t count;
	char **vector;

	if (take_u32(c, &count) != 0 || check_count(c, count, 4) != 0)
		return EINVAL;
	vector = calloc((size_t)count + 1, sizeof(*vector));
	if (vector == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		int err = take_string(c, &vector[i]);

		if (err != 0)
			return err;
	}
	*out = vector;
	return 0;
}

static int take_arg(struct cursor *c, struct plan_arg *arg)
{
	const uint8_t *kind;

	if (take(c, 1, &kind) != 0)
		return EINVAL;
	arg->kind = (char)*kind;
	switch (arg->kind) {
	case 'i':
		return take_i64(c, &arg->integer);
	case 's':
		return take_string(c, &arg->string);
	case 'b':
		if (take_u32(c, &arg->length) != 0)
			return EINVAL;
		return take(c, arg->length, &arg->bytes);
	case 'v':
		return take_vector(c, &arg->vector);
	case 'n':
		return 0;
	default:
		return EINVAL;
	}
}

/* Checks one arg against one signature character (see op_signature in steps.c). */
static int check_arg(const struct plan_arg *arg, char expected)
{
	switch (expected) {
	case '?':
		return arg->kind == 's' || arg->kind == 'n' ? 0 : EINVAL;
	case 'r':
		if (arg->kind != 'i' || arg->integer < -1)
			return EINVAL;
		return arg->integer < PLAN_SLOT_COUNT ? 0 : EINVAL;
	case 'f':
		if (arg->kind != 'i' || arg->integer < 0)
			return EINVAL;
		return arg->integer < PLAN_SLOT_COUNT ? 0 : EINVAL;
	default:
		return arg->kind == expected ? 0 : EINVAL;
	}
}

static int check_signature(const struct plan_step *step)
{
	const char *signature = op_signature(step->op);

	if (signature == NULL || strlen(signature) != step->arg_count)
		return EINVAL;
	for (uint32_t i = 0; i < step->arg_count; i++) {
		if (check_arg(&step->args[i], signature[i]) != 0)
			return EINVAL;
	}
	return 0;
}

static int take_tolerated(struct cursor *c, struct plan_step *step)
{
	if (take_u32(c, &step->tolerated_count) != 0)
		return EINVAL;
	if (check_count(c, step->tolerated_count, 4) != 0)
		return EINVAL;
	step->tolerated = calloc((size_t)step->tolerated_count + 1, sizeof(int32_t));
	if (step->tolerated == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < step->tolerated_count; i++) {
		uint32_t value;

		if (take_u32(c, &value) != 0)
			return EINVAL;
		step->tolerated[i] = (int32_t)value;
	}
	return 0;
}

static int take_step(struct cursor *c, struct plan_step *step)
{
	int err;

	if (take_u32(c, &step->op) != 0)
		return EINVAL;
	err = take_tolerated(c, step);
	if (err != 0)
		return err;
	if (take_u32(c, &step->arg_count) != 0 || check_count(c, step->arg_count, 1) != 0)
		return EINVAL;
	step->args = calloc((size_t)step->arg_count + 1, sizeof(*step->args));
	if (step->args == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < step->arg_count; i++) {
		err = take_arg(c, &step->args[i]);
		if (err != 0)
			return err;
	}
	return check_signature(step);
}

/* Accepts exactly one CLONE_NEW* bit, because a /proc/PID/ns/ file is one namespace. */
static int check_nstype(uint32_t nstype)
{
	if (nstype == 0 || (nstype & (nstype - 1)) != 0)
		return EINVAL;
	return (nstype & CLONE_NEW_MASK) != 0 ? 0 : EINVAL;
}

static int take_joins(struct cursor *c, struct plan *plan)
{
	if (take_u32(c, &plan->join_count) != 0 || check_count(c, plan->join_count, 8) != 0)
		return EINVAL;
	plan->joins = calloc((size_t)plan->join_count + 1, sizeof(*plan->joins));
	if (plan->joins == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < plan->join_count; i++) {
		struct plan_join *join = &plan->joins[i];
		int err;

		if (take_u32(c, &join->nstype) != 0 || check_nstype(join->nstype) != 0)
			return EINVAL;
		err = take_string(c, &join->path);
		if (err != 0)
			return err;
	}
	return 0;
}

/*
 * Takes the clock offsets of the time namespace that the setup stage creates. Each
 * clock may appear once, as /proc/PID/timens_offsets allows.
 */
static int take_time_offsets(struct cursor *c, struct plan *plan)
{
	if (take_u32(c, &plan->time_offset_count) != 0 ||
	    plan->time_offset_count > PLAN_MAX_TIME_OFFSETS)
		return EINVAL;
	for (uint32_t i = 0; i < plan->time_offset_count; i++) {
		struct plan_time_offset *offset = &plan->time_offsets[i];

		if (take_u32(c, &offset->clock) != 0 || take_i64(c, &offset->secs) != 0 ||
		    take_i64(c, &offset->nanosecs) != 0)
			return EINVAL;
		if (offset->clock != CLOCK_MONOTONIC && offset->clock != CLOCK_BOOTTIME)
			return EINVAL;
		if (offset->nanosecs < 0 || offset->nanosecs > 999999999)
			return EINVAL;
		if (i == 1 && offset->clock == plan->time_offsets[0].clock)
			return EINVAL;
	}
	return 0;
}

static int take_steps(struct cursor *c, struct plan *plan)
{
	if (take_u32(c, &plan->step_count) != 0 || check_count(c, plan->step_count, 12) != 0)
		return EINVAL;
	plan->steps = calloc((size_t)plan->step_count + 1, sizeof(*plan->steps));
	if (plan->steps == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < plan->step_count; i++) {
		int err = take_step(c, &plan->steps[i]);

		if (err != 0)
			return err;
	}
	return 0;
}

static int decode(struct cursor *c, struct plan *plan)
{
	const uint8_t *magic;
	uint32_t version;
	int err;

	if (take(c, 4, &magic) != 0 || memcmp(magic, PLAN_MAGIC, 4) != 0)
		return EINVAL;
	if (take_u32(c, &version) != 0 || version != PLAN_VERSION)
		return EINVAL;
	if (take_u32(c, &plan->clone_flags) != 0)
		return EINVAL;
	if ((plan->clone_flags & ~CLONE_NEW_MASK) != 0)
		return EINVAL;
	err = take_joins(c, plan);
	if (err == 0)
		err = take_time_offsets(c, plan);
	if (err == 0)
		err = take_steps(c, plan);
	if (err == 0 && c->left != 0)
		err = EINVAL;
	return err;
}

/*
 * Reads the length-prefixed plan from fd and decodes it. Reads exactly the plan's bytes,
 * so the RELEASE messages that follow stay in the socket. Returns 0 or an errno: EINVAL
 * for a truncated or malformed plan.
 */
int plan_read(int fd, struct plan *plan)
{
	unsigned char prefix[4];
	struct cursor length_cursor = { prefix, sizeof(prefix) };
	struct cursor c;
	uint32_t length;
	uint8_t *buf;
	ssize_t n;

	memset(plan, 0, sizeof(*plan));
	for (int i = 0; i < PLAN_SLOT_COUNT; i++)
		plan->setup_slots[i] = -1;
	n = read_full(fd, prefix, sizeof(prefix));
	if (n < 0)
		return errno;
	if (n != (ssize_t)sizeof(prefix) || take_u32(&length_cursor, &length) != 0)
		return EINVAL;
	if (length > PLAN_MAX_LENGTH)
		return EINVAL;
	buf = malloc(length > 0 ? length : 1);
	if (buf == NULL)
		return ENOMEM;
	n = read_full(fd, buf, length);
	if (n < 0)
		return errno;
	if (n != (ssize_t)length)
		return EINVAL;
	c = (struct cursor){ buf, length };
	return decode(&c, plan);
}
