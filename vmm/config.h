/* The VM's configuration: parsed and validated from one JSON file, immutable afterwards. */
#ifndef MICROVM_CONFIG_H
#define MICROVM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "layout.h"

#define CONFIG_MAX_VCPUS    32U
#define CONFIG_MIN_MEM_MIB  2U
#define CONFIG_MAX_MEM_MIB  (256U * 1024U) /* 256 GiB */
#define CONFIG_MAX_DRIVES   16U
#define CONFIG_DRIVE_ID_MAX 20U	       /* virtio-blk GET_ID returns 20 bytes */
#define CONFIG_MAX_FILE	    (1U << 20) /* config files above 1 MiB are rejected */
#define CONFIG_STDIN_NAME   "<stdin>"  /* the config's name in messages for "-" */
#define CONFIG_MAX_NETS	    8U
#define CONFIG_IFACE_ID_MAX 64U
#define CONFIG_IFNAME_MAX   15U /* IFNAMSIZ less the NUL */
#define CONFIG_UDS_PATH_MAX 96U /* sun_path (108) less "_4294967295" and the NUL */

/* Virtio devices of all kinds together: each takes one virtio-mmio window and its GSI. */
#define CONFIG_MAX_VIRTIO VIRTIO_MMIO_MAX

enum cache_type {
	CACHE_UNSAFE,	 /* FLUSH not offered */
	CACHE_WRITEBACK, /* FLUSH offered and honoured with fdatasync */
};

struct drive_config {
	char *drive_id;	    /* 1..20 chars of [A-Za-z0-9_-], unique */
	char *path_on_host; /* non-empty; existence is checked when the device opens it */
	char *partuuid;	    /* NULL unless given */
	bool is_root_device;
	bool is_read_only;
	enum cache_type cache_type;
};

/* network-interfaces[]: one virtio-net device on an existing tap. */
struct net_config {
	char *iface_id;	      /* 1..64 chars of [A-Za-z0-9_-], unique */
	char *host_dev_name;  /* 1..15 chars, no '/', ':' or whitespace, unique */
	bool has_mac;	      /* guest_mac given (VIRTIO_NET_F_MAC offered) */
	uint8_t guest_mac[6]; /* unicast, non-zero, unique */
};

/* vsock: Firecracker's hybrid model, host side on unix sockets. */
struct vsock_config {
	bool enabled;
	char *vsock_id;	    /* NULL unless given */
	uint32_t guest_cid; /* 3..0xFFFFFFFE */
	char *uds_path;	    /* listener; guest connections to port P go to uds_path_P */
};

/* A Firecracker token bucket: size bytes, refilled evenly over refill_time_ms. */
struct token_bucket_config {
	uint64_t size;		 /* 0: no limit */
	uint64_t one_time_burst; /* extra bytes available once at start */
	uint64_t refill_time_ms;
};

struct entropy_config {
	bool enabled;
	struct token_bucket_config bandwidth;
};

struct boot_config {
	char *kernel_image_path; /* NULL when a built-in guest is used */
	char *builtin;		 /* "hello", "selftest", ... when kernel_image_path is
				    absent or "builtin:NAME"; NULL otherwise */
	char *boot_args;	 /* NULL: the launcher's defaults */
	char *initrd_path;	 /* NULL: none */
};

struct machine_config {
	uint32_t vcpu_count;   /* 1..32, default 1 */
	uint64_t mem_size_mib; /* 2..262144, default 128 */
	bool smt;	       /* default false */
};

struct vm_config {
	char *source_path; /* the file it came from, for messages */
	struct boot_config boot;
	struct machine_config machine;
	struct drive_config drives[CONFIG_MAX_DRIVES];
	unsigned n_drives;
	struct net_config nets[CONFIG_MAX_NETS];
	unsigned n_nets;
	struct vsock_config vsock;
	struct entropy_config entropy;
};

/* Parse and validate text (len bytes, need not be NUL-terminated). name is used in messages
 * ("NAME:LINE:COL: ..." for syntax, "NAME: key.path: expected ..., got ..." for values).
 * On success fills cfg (free with config_free) and returns 0; else -EINVAL and err. */
int config_parse(const char *name, const char *text, size_t len, struct vm_config *cfg,
		 struct errbuf *err);

/* Read path and config_parse it: a regular file, or anything read to end of file (a pipe, a
 * FIFO, process substitution's /dev/fd/N, a terminal); "-" is standard input, named
 * CONFIG_STDIN_NAME in messages. At most CONFIG_MAX_FILE bytes; a directory is refused. Opening
 * never blocks (O_NONBLOCK); waiting for a FIFO's writer does, until data, end of file or a
 * signal (which ends the launcher: launch_guard_install). */
int config_load_file(const char *path, struct vm_config *cfg, struct errbuf *err);

void config_free(struct vm_config *cfg);

#endif
