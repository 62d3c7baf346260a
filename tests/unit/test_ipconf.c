/* Unit tests for the guest init's command-line parsing: ip=, bare words, module parameters. */
// SOURCES: firmware/linux-init/ipconf.c
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "firmware/linux-init/ipconf.h"
#include "tests/unit/unit.h"

static void test_ip(void)
{
	struct ipconf c;

	CHECK_EQ(ipconf_parse("console=ttyS0 ip=10.0.0.2::10.0.0.1:255.255.255.0:vm:eth1:off", &c),
		 1);
	CHECK_EQ(c.addr, inet_addr("10.0.0.2"));
	CHECK_EQ(c.gateway, inet_addr("10.0.0.1"));
	CHECK_EQ(c.netmask, inet_addr("255.255.255.0"));
	CHECK(!strcmp(c.hostname, "vm") && !strcmp(c.device, "eth1"));
	CHECK_EQ(ipconf_parse("ip=10.1.2.3/16", &c), 1);
	CHECK_EQ(c.netmask, inet_addr("255.255.0.0"));
	CHECK(!strcmp(c.device, "eth0"));
	CHECK_EQ(ipconf_parse("quiet -- ip=10.1.2.3/16", &c), 0); /* after --: the command's */
	CHECK_EQ(ipconf_parse("ip=off", &c), 0);
	CHECK_EQ(ipconf_parse("ip=dhcp", &c), -EINVAL);
	CHECK_EQ(ipconf_parse("ip=10.1.2.3/33", &c), -EINVAL);
	CHECK(cmdline_has("a quiet b", "quiet") && !cmdline_has("a -- quiet", "quiet"));
}

static void test_module_params(void)
{
	const char *cl = "quiet virtio_net.napi_tx=0 virtio-net.x=1 virtio_netx.y=2 .z=3 "
			 "virtio_net. virtio_net.flag -- virtio_net.after=1";
	char out[64];

	CHECK_EQ(cmdline_module_params(cl, "virtio_net", out, sizeof(out)), 18);
	CHECK(!strcmp(out, "napi_tx=0 x=1 flag"));
	CHECK_EQ(cmdline_module_params(cl, "virtio-net", out, sizeof(out)), 18);
	CHECK_EQ(cmdline_module_params(cl, "vsock", out, sizeof(out)), 0);
	CHECK(!strcmp(out, ""));
	CHECK_EQ(cmdline_module_params(cl, "virtio", out, sizeof(out)), 0);
	CHECK_EQ(cmdline_module_params(cl, "virtio_net", out, 18), -ENAMETOOLONG);
	CHECK_EQ(cmdline_module_params(cl, "virtio_net", out, 19), 18);
	CHECK_EQ(cmdline_module_params(cl, "virtio_net", out, 0), -ENAMETOOLONG);
}

static void test_command_words(void)
{
	CHECK_EQ(cmdline_command_words("console=ttyS0 nomodules"), 0);
	CHECK_EQ(cmdline_command_words("nomodules -- /bin/true"), 1);
	CHECK_EQ(cmdline_command_words("a -- /bin/sh -c \"echo a  b; exit 3\"  "), 3);
	CHECK_EQ(cmdline_command_words("x=\"a -- b\" -- one"), 1); /* a quoted -- is not one */
	CHECK_EQ(cmdline_command_words("-- a -- b"), 3);	   /* only the first -- splits */
	CHECK_EQ(cmdline_command_words("--"), 0);
	CHECK_EQ(cmdline_command_words("a --b c"), 0);
	CHECK_EQ(cmdline_command_words("-- \"unterminated quote"), 1);
}

int main(void)
{
	RUN(test_command_words);
	RUN(test_ip);
	RUN(test_module_params);
	return unit_summary("test_ipconf");
}
