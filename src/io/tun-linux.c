/* Linux TUN: /dev/net/tun with IFF_TUN | IFF_NO_PI | IFF_VNET_HDR and TSO
 * offload when the kernel allows it; MTU via SIOC[GS]IFMTU and rtnetlink
 * link events; liveness from the fd itself (TUNGETIFF). */
#include "io/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

int tun_open(const char *name, char name_out[16], unsigned *offload)
{
	struct ifreq ifr = { 0 };
	int fd, ret, hdrlen = sizeof(struct virtio_net_hdr);

	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdrlen) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	/* Checksum, TSO and USO offload: the kernel may hand us up to 64 KiB
	 * TCP or UDP super-packets and accepts the same from us. Kernels
	 * before 6.2 refuse USO; all of it is optional. */
	*offload = 0;
	if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 |
					     TUN_F_USO4 | TUN_F_USO6) == 0)
		*offload = TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO;
	else if (ioctl(fd, TUNSETOFFLOAD,
		       TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0)
		*offload = TUN_OFFLOAD_TSO;
	if (name_out) {
		memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
		name_out[IFNAMSIZ - 1] = '\0';
	}
	return fd;
}

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, req, ifr) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int tun_get_mtu(const char *name)
{
	struct ifreq ifr = { 0 };
	int ret = ifreq_ioctl(name, SIOCGIFMTU, &ifr);

	return ret < 0 ? ret : ifr.ifr_mtu;
}

int tun_set_mtu(const char *name, int mtu)
{
	struct ifreq ifr = { 0 };

	ifr.ifr_mtu = mtu;
	return ifreq_ioctl(name, SIOCSIFMTU, &ifr);
}

int tun_set_txqueuelen(const char *name, int len)
{
	struct ifreq ifr = { 0 };

	ifr.ifr_qlen = len;
	return ifreq_ioctl(name, SIOCSIFTXQLEN, &ifr);
}

int tun_alive(int fd, char name_out[16])
{
	struct ifreq ifr = { 0 };

	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	if (name_out)
		snprintf(name_out, 16, "%s", ifr.ifr_name);
	return 0;
}

int tun_link_watch_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

void tun_link_watch_read(int fd, int ifindex, int *mtu, bool *gone)
{
	char buf[16384] __attribute__((aligned(4)));
	ssize_t n;

	*mtu = 0;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		struct nlmsghdr *h;
		size_t left = (size_t)n;

		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			struct ifinfomsg *ifi = NLMSG_DATA(h);
			struct rtattr *rta;
			unsigned int alen;

			if ((h->nlmsg_type != RTM_NEWLINK &&
			     h->nlmsg_type != RTM_DELLINK) ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) ||
			    ifi->ifi_index != ifindex)
				continue;
			if (h->nlmsg_type == RTM_DELLINK) {
				*gone = true;
				continue;
			}
			alen = (unsigned int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
			for (rta = IFLA_RTA(ifi); RTA_OK(rta, alen);
			     rta = RTA_NEXT(rta, alen))
				if (rta->rta_type == IFLA_MTU &&
				    RTA_PAYLOAD(rta) >= sizeof(uint32_t))
					memcpy(mtu, RTA_DATA(rta), sizeof(*mtu));
		}
	}
}
