/*
 * Times BATCHES batches of CALLS getppid(2) calls each, through syscall(2) so that no libc cache
 * can serve them, and prints the cost of one call in the fastest batch, in nanoseconds. The
 * fastest batch is the one least disturbed by other load on the machine. clock_gettime goes
 * through the vDSO, outside seccomp.
 *
 * usage: syscall-loop BATCHES CALLS
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double batch_ns(long calls)
{
	struct timespec start, end;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < calls; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &end);
	return ((double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec)) / (double)calls;
}

int main(int argc, char **argv)
{
	long batches = argc == 3 ? atol(argv[1]) : 0;
	long calls = argc == 3 ? atol(argv[2]) : 0;
	double fastest = 0;

	if (batches <= 0 || calls <= 0) {
		fprintf(stderr, "usage: syscall-loop BATCHES CALLS\n");
		return 2;
	}
	for (long i = 0; i < batches; i++) {
		double ns = batch_ns(calls);

		if (i == 0 || ns < fastest)
			fastest = ns;
	}
	printf("%.2f\n", fastest);
	return 0;
}
