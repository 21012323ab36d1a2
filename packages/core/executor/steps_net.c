/* Network steps: bringing an interface of the child's network namespace up. */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "steps.h"

/*
 * Sets IFF_UP on the named interface with SIOCGIFFLAGS and SIOCSIFFLAGS. A new network
 * namespace starts with its loopback device down, so without this step 127.0.0.1 is
 * unreachable inside the container. The ioctl acts on the namespace of the socket, which is
 * the child's own.
 */
int op_link_up(struct child_context *context, const struct plan_arg *args)
{
	struct ifreq request;
	int fd, err = 0;

	(void)context;
	if (strlen(args[0].string) >= IFNAMSIZ)
		return EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	memset(&request, 0, sizeof(request));
	strcpy(request.ifr_name, args[0].string);
	if (ioctl(fd, SIOCGIFFLAGS, &request) < 0) {
		err = errno;
	} else if (!(request.ifr_flags & IFF_UP)) {
		request.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &request) < 0)
			err = errno;
	}
	close(fd);
	return err;
}
