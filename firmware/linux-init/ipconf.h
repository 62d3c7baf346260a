/* Parse the network setting of the kernel command line (`ip=`) for the guest init; pure code. */
#ifndef MICROVM_INIT_IPCONF_H
#define MICROVM_INIT_IPCONF_H

#include <stddef.h>
#include <stdint.h>

#define IPCONF_NAME_MAX 64

/* Addresses in network byte order; 0 when absent. */
struct ipconf {
	uint32_t addr, netmask, gateway;
	char hostname[IPCONF_NAME_MAX];
	char device[16]; /* IFNAMSIZ; "eth0" when absent */
};

/*
 * Find the last `ip=` word in cmdline (words split at spaces; stops at " -- ") and parse it:
 *   ip=CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF  (the kernel's syntax, static only;
 *       AUTOCONF empty, "off", "none" or "static"; trailing fields may be omitted)
 *   ip=CLIENT/PREFIX  (our shorthand: address and prefix length 0..32 on eth0)
 * A missing netmask defaults to /24. Returns 1 with *c filled, 0 when there is no `ip=` (or it
 * is "off"/"none"), -EINVAL when it is malformed or asks for DHCP/BOOTP/RARP.
 */
int ipconf_parse(const char *cmdline, struct ipconf *c);

/* Whether cmdline holds the word `word` before any " -- ". */
int cmdline_has(const char *cmdline, const char *word);

/* The parameters cmdline gives module (words "MODULE.PARAM=VALUE" or "MODULE.PARAM" before
 * any " -- "; '-' and '_' alike in MODULE, as modprobe reads them) as "PARAM=VALUE PARAM" in
 * out, for finit_module. Returns the length, or -ENAMETOOLONG when they do not fit in cap. */
int cmdline_module_params(const char *cmdline, const char *module, char *out, size_t cap);

/* How many of init's arguments are the command: the words after the first word "--" of
 * cmdline, split as the kernel splits them (a double quote toggles quoting anywhere in a
 * word). The kernel also hands init the words before "--" it does not know (Firecracker's
 * "nomodules"); those precede the command in argv and are not part of it. */
int cmdline_command_words(const char *cmdline);

#endif
