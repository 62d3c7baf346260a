/* libFuzzer target: config_parse must never crash, leak or misreport on any input. */
// SOURCES: vmm/config.c vmm/json.c vmm/errors.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	struct errbuf err = {0};
	/* a copy of exactly size bytes, so reading past the end is caught */
	char *text = malloc(size ? size : 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	rc = config_parse("fuzz.json", text, size, &cfg, &err);
	if (rc == 0) {
		/* what the launcher relies on after a successful parse */
		if (!cfg.source_path || (!cfg.boot.kernel_image_path == !cfg.boot.builtin) ||
		    cfg.machine.vcpu_count < 1 || cfg.machine.vcpu_count > CONFIG_MAX_VCPUS ||
		    cfg.machine.mem_size_mib < CONFIG_MIN_MEM_MIB ||
		    cfg.machine.mem_size_mib > CONFIG_MAX_MEM_MIB ||
		    cfg.n_drives > CONFIG_MAX_DRIVES)
			abort();
		for (unsigned i = 0; i < cfg.n_drives; i++)
			if (!cfg.drives[i].drive_id || !cfg.drives[i].path_on_host)
				abort();
	} else if ((rc != -EINVAL && rc != -ENOMEM) || strncmp(err.msg, "fuzz.json", 9) != 0 ||
		   strchr(err.msg, '\n') || !strncmp(err.msg, "fuzz.json: internal", 19)) {
		abort(); /* every error is one line naming the input */
	}
	config_free(&cfg);
	free(text);
	return 0;
}
