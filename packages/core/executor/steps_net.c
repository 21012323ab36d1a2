/* Network steps: bringing an interface of the child's network namespace up. */
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "steps.h"

/* Stores an IPv4 address, given in host byte order, into a sockaddr. */
static void set_inet(struct sockaddr *target, uint32_t address)
{
	struct sockaddr_in inet;

	memset(&inet, 0, sizeof(inet));
	inet.sin_family = AF_INET;
	inet.sin_addr.s_addr = htonl(address);
	memcpy(target, &inet, sizeof(inet));
}

/* Gives the interface its IPv4 address and netmask (SIOCSIFADDR, SIOCSIFNETMASK). */
static int set_address(int fd, const char *name, uint32_t address, int prefix)
{
	struct ifreq request;

	memset(&request, 0, sizeof(request));
	strcpy(request.ifr_name, name);
	set_inet(&request.ifr_addr, address);
	if (ioctl(fd, SIOCSIFADDR, &request) < 0)
		return errno;
	set_inet(&request.ifr_netmask, prefix == 0 ? 0 : UINT32_MAX << (32 - prefix));
	return ioctl(fd, SIOCSIFNETMASK, &request) < 0 ? errno : 0;
}

/* Sets IFF_UP (SIOCGIFFLAGS, then SIOCSIFFLAGS when the interface is down). */
static int set_up(int fd, const char *name)
{
	struct ifreq request;

	memset(&request, 0, sizeof(request));
	strcpy(request.ifr_name, name);
	if (ioctl(fd, SIOCGIFFLAGS, &request) < 0)
		return errno;
	if (request.ifr_flags & IFF_UP)
		return 0;
	request.ifr_flags |= IFF_UP;
	return ioctl(fd, SIOCSIFFLAGS, &request) < 0 ? errno : 0;
}

/* Adds the default route through the gateway on the interface (SIOCADDRT). */
static int add_default_route(int fd, char *name, uint32_t gateway)
{
	struct rtentry route;

	memset(&route, 0, sizeof(route));
	set_inet(&route.rt_dst, 0);
	set_inet(&route.rt_genmask, 0);
	set_inet(&route.rt_gateway, gateway);
	route.rt_flags = RTF_UP | RTF_GATEWAY;
	route.rt_dev = name;
	return ioctl(fd, SIOCADDRT, &route) < 0 ? errno : 0;
}

/*
 * LINK_UP name, address, prefix, gateway: optionally gives the interface an IPv4 address,
 * brings it up, and optionally adds a default route through a gateway. Addresses are in host
 * byte order, and 0 means none. A new network namespace starts with its loopback device down,
 * and a veth end moved into it has neither address nor route. The ioctls act on the namespace
 * of the socket, which is the child's own, and find the interface by name.
 */
int op_link_up(struct child_context *context, const struct plan_arg *args)
{
	char *name = args[0].string;
	int64_t address = args[1].integer, prefix = args[2].integer, gateway = args[3].integer;
	int fd, err = 0;

	(void)context;
	if (strlen(name) >= IFNAMSIZ || address < 0 || address > UINT32_MAX || prefix < 0 || prefix > 32 ||
	    gateway < 0 || gateway > UINT32_MAX)
		return EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (address != 0)
		err = set_address(fd, name, (uint32_t)address, (int)prefix);
	if (err == 0)
		err = set_up(fd, name);
	if (err == 0 && gateway != 0)
		err = add_default_route(fd, name, (uint32_t)gateway);
	close(fd);
	return err;
}
