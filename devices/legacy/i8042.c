/* Minimal i8042: answers Linux's probe at once (no AUX port); 0xFE resets (stops) the VM. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../host.h"
#include "../device.h"

enum {
	I8042_STATUS_OBF = 0x01,
	I8042_STATUS_SYS = 0x04,
	I8042_STATUS_KEYLOCK = 0x10, /* 1: keyboard not inhibited (no "Keylock active") */
	I8042_CMD_READ_CTR = 0x20,
	I8042_CMD_WRITE_CTR = 0x60,
	I8042_CMD_SELF_TEST = 0xAA,
	I8042_CMD_KBD_TEST = 0xAB,
	I8042_CMD_AUX_TEST = 0xA9,
	I8042_CMD_AUX_LOOP = 0xD3,
	I8042_AUX_CLOCK_STUCK = 0x01, /* AUX_TEST's answer: there is no mouse port */
	I8042_CMD_WRITE_OUTPUT = 0xD1,
	I8042_CMD_RESET = 0xFE,
};

struct i8042 {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ctr;
	uint8_t data;
	bool has_data;
	uint8_t pending_cmd; /* a command waiting for its data byte on port 0x60 */
	_Atomic uint64_t resets;
};

static struct i8042 kbc;

static void i8042_reply(struct i8042 *k, uint8_t v)
{
	k->data = v;
	k->has_data = true;
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case I8042_CMD_READ_CTR:
		i8042_reply(k, k->ctr);
		break;
	case I8042_CMD_SELF_TEST:
		i8042_reply(k, 0x55);
		break;
	case I8042_CMD_KBD_TEST:
		i8042_reply(k, 0x00);
		break;
	case I8042_CMD_AUX_TEST:
		i8042_reply(k, I8042_AUX_CLOCK_STUCK);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTPUT:
	case I8042_CMD_AUX_LOOP:
		k->pending_cmd = cmd;
		break;
	case I8042_CMD_RESET:
		k->resets++;
		host_request_stop(k->vm, 0);
		break;
	default:
		break;
	}
}

static void i8042_data_write(struct i8042 *k, uint8_t v)
{
	if (k->pending_cmd == I8042_CMD_WRITE_CTR) {
		k->ctr = v;
	} else if (k->pending_cmd == I8042_CMD_AUX_LOOP) {
		i8042_reply(k, v); /* echoed as keyboard data: Linux's probe sees no AUX port */
	} else if (k->pending_cmd == I8042_CMD_WRITE_OUTPUT && !(v & 1)) {
		k->resets++; /* output port bit 0 low: CPU reset line */
		host_request_stop(k->vm, 0);
	}
	k->pending_cmd = 0;
}

static void i8042_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct i8042 *k = opaque;
	uint8_t *b = data;
	bool is_cmd_port = off == I8042_COMMAND - I8042_DATA;

	pthread_mutex_lock(&k->lock);
	if (!is_write) {
		memset(b, 0, len);
		if (is_cmd_port) {
			b[0] = I8042_STATUS_SYS | I8042_STATUS_KEYLOCK |
			       (k->has_data ? I8042_STATUS_OBF : 0);
		} else if (off == 0) {
			b[0] = k->data;
			k->has_data = false;
		}
	} else if (is_cmd_port) {
		i8042_command(k, b[0]);
	} else if (off == 0) {
		i8042_data_write(k, b[0]);
	}
	pthread_mutex_unlock(&k->lock);
}

static void i8042_stats(void *opaque, FILE *f)
{
	struct i8042 *k = opaque;

	fprintf(f, "{\"resets\":%llu}", (unsigned long long)k->resets);
}

static int i8042_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	struct i8042 *k = &kbc;
	int rc;

	(void)cfg;
	memset(k, 0, sizeof(*k));
	k->vm = vm;
	k->ctr = 0x45; /* kbd interrupt, system flag, translate */
	pthread_mutex_init(&k->lock, NULL);
	/* One region covering 0x60..0x64; offsets 1-3 (0x61 speaker etc.) read as 0. */
	rc = host_add_pio(vm, I8042_DATA, I8042_COMMAND - I8042_DATA + 1, i8042_io, k);
	if (rc < 0)
		return err_sys(err, rc, "i8042: ports 0x60-0x64");
	return host_add_stats(vm, "i8042", i8042_stats, k);
}

static struct device_type i8042_type = {
    .name = "i8042", .phase = DEVICE_PHASE_I8042, .create = i8042_create};
DEVICE_TYPE_REGISTER(i8042_type)
