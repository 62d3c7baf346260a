/* selftest: finds the virtio-mmio devices on the command line (as Linux does) and runs each
 * registered device test on them. Prints TAP-style lines; exit status = failures (max 63). */
#include "selftest.h"

#include "apic.h"

extern const struct devtest __devtests_start[], __devtests_end[];

static unsigned n_checks, n_failed;

bool check(bool ok, const char *detail, const char *what_fmt, ...)
{
	/* One buffer, one write: formatting costs as much as printing where CPL0 is emulated. */
	static char line[384];
	const size_t room = sizeof(line) - 2; /* keep space for "\n" and the NUL */
	n_checks++;
	if (!ok)
		n_failed++;
	size_t n = (size_t)fw_snprintf(line, room, "%sok %u - ", ok ? "" : "not ", n_checks);
	va_list ap;
	va_start(ap, what_fmt);
	if (n < room)
		n += (size_t)fw_vsnprintf(line + n, room - n, what_fmt, ap);
	va_end(ap);
	if (!ok && n < room)
		n += (size_t)fw_snprintf(line + n, room - n, ": %s", detail ? detail : "failed");
	if (n > room - 1)
		n = room - 1;
	line[n++] = '\n';
	fw_write(line, n);
	return ok;
}

bool vdev_bringup(struct vdev *d, uint64_t wanted, unsigned nqueues)
{
	char why[160] = "";
	bool ok = vdev_negotiate(d, wanted, why, sizeof(why));
	for (unsigned i = 0; ok && i < nqueues; i++)
		ok = vdev_setup_queue(d, i, why, sizeof(why));
	if (ok && !ioapic_route(d->gsi, (uint8_t)(APIC_VECTOR_BASE + d->gsi))) {
		fw_snprintf(why, sizeof(why), "IOAPIC has no pin %u", d->gsi);
		ok = false;
	}
	if (ok) {
		d->irr_before = lapic_irr_test((uint8_t)(APIC_VECTOR_BASE + d->gsi));
		vdev_driver_ok(d);
	}
	fw_printf("# %s: virtio-mmio 0x%lx gsi %u vendor 0x%x features offered 0x%lx "
		  "negotiated 0x%lx\n",
		  d->name, (uint64_t)d->base, d->gsi, d->vendor_id, d->offered, d->features);
	return check(ok, why, "%s init", d->name);
}

bool vdev_interrupt_check(struct vdev *d)
{
	char why[128] = "";
	uint8_t vector = (uint8_t)(APIC_VECTOR_BASE + d->gsi);
	bool ok = vdev_check_interrupt(d, vector, why, sizeof(why));
	if (ok && d->irr_before) {
		/* Set before any request: another source (or a shared GSI) raised it. */
		fw_snprintf(why, sizeof(why), "vector 0x%x was pending before the first request",
			    vector);
		ok = false;
	}
	return check(ok, why, "%s interrupt vector 0x%x", d->name, vector);
}

static struct vdev devs[VDEV_MAX];

int main(void)
{
	lapic_init();
	uint64_t t0 = clock_ns();
	unsigned counts[16] = {0};
	unsigned ndev = 0;
	unsigned n_tok;
	const struct fw_token *toks = cmdline_tokens(&n_tok);

	for (unsigned ti = 0; ti < n_tok; ti++) {
		const struct fw_token tok = toks[ti];
		struct fw_token val;
		if (!token_value(&tok, "virtio_mmio.device", &val))
			continue;
		struct vdev *d = &devs[ndev];
		memset(d, 0, sizeof(*d));
		uint64_t base;
		if (!virtio_mmio_parse(&val, &d->size, &base, &d->gsi)) {
			check(false, "expected <size>@<base>:<gsi>", "cmdline %.*s", (int)tok.len,
			      tok.s);
			continue;
		}
		d->base = (uintptr_t)base;
		if (base < 0xC0000000ULL || base + d->size > 0x100000000ULL) {
			check(false, "outside the identity-mapped MMIO hole 0xc0000000-0xffffffff",
			      "cmdline %.*s", (int)tok.len, tok.s);
			continue;
		}
		char why[96];
		if (!vdev_probe(d, why, sizeof(why))) {
			check(false, why, "virtio-mmio 0x%lx transport", base);
			continue;
		}
		if (d->device_id == 0) {
			fw_printf("# no device at 0x%lx (device id 0)\n", base);
			continue;
		}
		const struct devtest *t = __devtests_start;
		while (t < __devtests_end && t->device_id != d->device_id)
			t++;
		if (t == __devtests_end) {
			fw_printf("# skipping device id %u at 0x%lx\n", d->device_id, base);
			continue;
		}
		unsigned slot = (unsigned)(t - __devtests_start);
		fw_snprintf(d->name, sizeof(d->name), "%s%u", t->prefix,
			    slot < ARRAY_SIZE(counts) ? counts[slot]++ : 0U);
		t->run(d);
		if (++ndev == VDEV_MAX) {
			fw_printf("# more than %u devices: ignoring the rest\n", VDEV_MAX);
			break;
		}
	}
	if (ndev == 0)
		fw_printf("# no virtio devices tested\n");
	smp_test();
	fw_printf("# selftest took %lu us\n", (clock_ns() - t0) / 1000);
	fw_printf("selftest: %u passed, %u failed\n", n_checks - n_failed, n_failed);
	return (int)(n_failed > 63 ? 63 : n_failed);
}
