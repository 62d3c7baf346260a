/* 8250/16550A UART on COM1: output to stdout, input from stdin, IRQ 4 via KVM_IRQ_LINE. */
#include "serial.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../host.h"
#include "../device.h"

#define UART_RX_FIFO 64U

enum {
	UART_LSR_DR = 0x01,
	UART_LSR_THRE = 0x20,
	UART_LSR_TEMT = 0x40,
	UART_IER_RDI = 0x01,
	UART_IER_THRI = 0x02,
	UART_IIR_NO_INT = 0x01,
	UART_IIR_THRI = 0x02,
	UART_IIR_RDI = 0x04,
	UART_IIR_FIFO = 0xC0,
	UART_LCR_DLAB = 0x80,
	UART_MCR_LOOP = 0x10,
	UART_FCR_ENABLE = 0x01,
	UART_FCR_CLEAR_RX = 0x02,
	UART_MSR_DEFAULT = 0xB0, /* DCD | DSR | CTS */
};

struct serial {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
	bool thr_int_pending;
	int irq_level;
	uint8_t rx[UART_RX_FIFO];
	unsigned rx_head, rx_count;
	bool input_paused;
	int in_fd, out_fd;
	struct evloop_handler input;
	pthread_mutex_t out_lock; /* vCPU threads: a byte to out_fd (taken without lock) */
	bool out_poll;		  /* out_fd may block (not a regular file): poll first */
	bool out_stalled;	  /* the last wait timed out: drop until out_fd is writable */
	_Atomic uint64_t tx_bytes, tx_dropped, rx_bytes;
};

static struct serial com1;

static uint8_t serial_iir(struct serial *s)
{
	uint8_t fifo = (s->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFO : 0;

	if ((s->ier & UART_IER_RDI) && s->rx_count)
		return fifo | UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thr_int_pending)
		return fifo | UART_IIR_THRI;
	return fifo | UART_IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	int level = (serial_iir(s) & UART_IIR_NO_INT) ? 0 : 1;

	if (level != s->irq_level) {
		s->irq_level = level;
		host_irq_line(s->vm, COM1_IRQ, level);
	}
}

static void serial_rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count < UART_RX_FIFO) {
		s->rx[(s->rx_head + s->rx_count) % UART_RX_FIFO] = b;
		s->rx_count++;
	}
}

static uint8_t serial_rx_pop(struct serial *s)
{
	uint8_t b = 0;

	if (s->rx_count) {
		b = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % UART_RX_FIFO;
		s->rx_count--;
		if (s->input_paused && s->in_fd >= 0) {
			s->input_paused = false;
			evloop_mod(host_loop(s->vm), &s->input, EPOLLIN);
		}
	}
	return b;
}

/* A THR write: true when the byte is for out_fd (serial_output, after the lock is dropped). */
static bool serial_tx(struct serial *s, uint8_t b)
{
	s->thr_int_pending = true;
	if (!(s->mcr & UART_MCR_LOOP))
		return true;
	serial_rx_push(s, b);
	return false;
}

/* out_lock held: stdout took nothing for SERIAL_STALL_MS. Say so once, if stderr has room
 * (it may be the same stalled pipe). */
static void serial_stall_note(struct serial *s)
{
	static bool said;
	struct pollfd p = {.fd = 2, .events = POLLOUT};

	s->out_stalled = true;
	if (said || poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return;
	said = true;
	dprintf(2,
		"microvm: serial: stdout took no byte for %d ms: console output is dropped "
		"while it takes none (counted in serial0.tx_dropped)\n",
		SERIAL_STALL_MS);
}

/* out_lock held: whether out_fd takes a byte now without blocking; waits SERIAL_STALL_MS at
 * most, and not at all while stalled (serial.h). */
static bool serial_out_ready(struct serial *s)
{
	struct pollfd p = {.fd = s->out_fd, .events = POLLOUT};
	int n;

	if (!s->out_poll)
		return true;
	n = poll(&p, 1, s->out_stalled ? 0 : SERIAL_STALL_MS);
	if (n == 0 && !s->out_stalled)
		serial_stall_note(s);
	if (n <= 0 || (p.revents & POLLNVAL))
		return false; /* no room in time, or a stop's kick interrupted the wait */
	s->out_stalled = false;
	return true; /* room, or an error the write reports at once (EPIPE) */
}

/* vCPU thread, state lock not held (stdin input and the other registers go on meanwhile). */
static void serial_output(struct serial *s, uint8_t b)
{
	pthread_mutex_lock(&s->out_lock);
	if (serial_out_ready(s) && write(s->out_fd, &b, 1) == 1)
		s->tx_bytes++;
	else
		s->tx_dropped++;
	pthread_mutex_unlock(&s->out_lock);
}

static uint8_t serial_msr(const struct serial *s)
{
	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DEFAULT;
	/* Loopback: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2. */
	return (uint8_t)(((s->mcr & 0x02) << 3) | ((s->mcr & 0x01) << 5) | ((s->mcr & 0x04) << 4) |
			 ((s->mcr & 0x08) << 4));
}

static uint8_t serial_read(struct serial *s, uint64_t off)
{
	uint8_t v;

	switch (off) {
	case 0:
		return (s->lcr & UART_LCR_DLAB) ? s->dll : serial_rx_pop(s);
	case 1:
		return (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
	case 2:
		v = serial_iir(s);
		if ((v & 0x0F) == UART_IIR_THRI)
			s->thr_int_pending = false;
		return v;
	case 3:
		return s->lcr;
	case 4:
		return s->mcr;
	case 5:
		return UART_LSR_THRE | UART_LSR_TEMT | (s->rx_count ? UART_LSR_DR : 0);
	case 6:
		return serial_msr(s);
	default:
		return s->scr;
	}
}

/* A register write; true when v is a byte for out_fd. */
static bool serial_write(struct serial *s, uint64_t off, uint8_t v)
{
	switch (off) {
	case 0:
		if (!(s->lcr & UART_LCR_DLAB))
			return serial_tx(s, v);
		s->dll = v;
		break;
	case 1:
		if (s->lcr & UART_LCR_DLAB) {
			s->dlm = v;
			break;
		}
		if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
			s->thr_int_pending = true;
		s->ier = v & 0x0F;
		break;
	case 2:
		s->fcr = v;
		if (v & UART_FCR_CLEAR_RX)
			s->rx_count = 0;
		break;
	case 3:
		s->lcr = v;
		break;
	case 4:
		s->mcr = v & 0x1F;
		break;
	case 7:
		s->scr = v;
		break;
	default:
		break;
	}
	return false;
}

static void serial_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;
	uint8_t *b = data;
	bool out = false;

	pthread_mutex_lock(&s->lock);
	if (is_write)
		out = serial_write(s, off, b[0]);
	else
		b[0] = serial_read(s, off);
	if (len > 1 && !is_write)
		memset(b + 1, 0, len - 1);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	if (out)
		serial_output(s, b[0]);
}

/* Event thread: stdin readable. Take what fits in the FIFO; pause input when it is full. */
static void serial_input(struct evloop_handler *h, uint32_t events)
{
	struct serial *s = h->opaque;
	uint8_t buf[UART_RX_FIFO];
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&s->lock);
	n = read(s->in_fd, buf, UART_RX_FIFO - s->rx_count);
	if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
		evloop_del(host_loop(s->vm), h); /* EOF or error: no more input */
		s->in_fd = -1;
	}
	for (ssize_t i = 0; i < n; i++)
		serial_rx_push(s, buf[i]);
	s->rx_bytes += n > 0 ? (uint64_t)n : 0;
	if (s->rx_count == UART_RX_FIFO && s->in_fd >= 0) {
		s->input_paused = true;
		evloop_mod(host_loop(s->vm), h, 0);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_stats(void *opaque, FILE *f)
{
	struct serial *s = opaque;

	fprintf(f, "{\"tx_bytes\":%llu,\"tx_dropped\":%llu,\"rx_bytes\":%llu}",
		(unsigned long long)s->tx_bytes, (unsigned long long)s->tx_dropped,
		(unsigned long long)s->rx_bytes);
}

static int serial_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	struct serial *s = &com1;
	struct stat st;
	int rc;

	(void)cfg;
	memset(s, 0, sizeof(*s));
	s->vm = vm;
	s->out_fd = 1;
	s->in_fd = 0;
	s->out_poll = fstat(1, &st) < 0 || !S_ISREG(st.st_mode);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->out_lock, NULL);
	rc = host_add_pio(vm, COM1_PORT, 8, serial_io, s);
	if (rc < 0)
		return err_sys(err, rc, "serial: port 0x%x", COM1_PORT);
	s->input = (struct evloop_handler){.fd = 0, .fn = serial_input, .opaque = s};
	if (evloop_add(host_loop(vm), &s->input, EPOLLIN) < 0)
		s->in_fd = -1; /* stdin closed or a regular file: no guest input */
	host_add_stats(vm, "serial0", serial_stats, s);
	return 0;
}

static struct device_type serial_type = {
    .name = "serial", .phase = DEVICE_PHASE_SERIAL, .create = serial_create};
DEVICE_TYPE_REGISTER(serial_type)
