/* Unit tests for the split virtqueue: crafted rings in fake guest memory, every malformation. */
// SOURCES: devices/virtio/virtqueue.c vmm/guest_mem.c
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/virtio_ring.h>

#include "devices/virtio/virtqueue.h"
#include "vmm/guest_mem.h"
#include "vmm/layout.h"
#include "tests/unit/unit.h"

#define RAM_SIZE  (1U << 20)
#define DESC_GPA  0x10000ULL
#define AVAIL_GPA 0x20000ULL
#define USED_GPA  0x30000ULL
#define BUF_GPA	  0x40000ULL

static struct guest_mem mem;
static uint8_t *ram;
static struct virtq q;
static struct virtq_chain chain;
static uint16_t avail_idx; /* the driver's copy */

static void *gpa(uint64_t a)
{
	return gmem_ptr(&mem, a, 0);
}

static void ram_reset(void)
{
	memset(ram, 0, RAM_SIZE);
	gmem_init(&mem, ram, RAM_SIZE);
}

/* A started queue of size n with rings at the fixed addresses. */
static void ring_setup(uint16_t n, bool event_idx, bool indirect)
{
	virtq_reset(&q);
	q.size = n;
	q.desc_gpa = DESC_GPA;
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA;
	q.event_idx = event_idx;
	q.indirect = indirect;
	avail_idx = 0;
	CHECK_EQ(virtq_start(&q, &mem), 0);
}

static void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};

	memcpy(gpa(table + 16ULL * i), &d, sizeof(d));
}

static void set_avail_idx(uint16_t v)
{
	memcpy(gpa(q.avail_gpa + 2), &v, 2);
}

/* Make head available (the driver's side). */
static void offer(uint16_t head)
{
	memcpy(gpa(q.avail_gpa + 4 + 2ULL * (avail_idx % q.size)), &head, 2);
	avail_idx++;
	set_avail_idx(avail_idx);
}

static uint16_t used_idx_read(void)
{
	uint16_t v;

	memcpy(&v, gpa(q.used_gpa + 2), 2);
	return v;
}

static void used_elem(uint16_t slot, uint32_t *id, uint32_t *len)
{
	memcpy(id, gpa(q.used_gpa + 4 + 8ULL * slot), 4);
	memcpy(len, gpa(q.used_gpa + 8 + 8ULL * slot), 4);
}

static void set_used_event(uint16_t v)
{
	memcpy(gpa(q.avail_gpa + 4 + 2ULL * q.size), &v, 2);
}

static uint16_t avail_event_read(void)
{
	uint16_t v;

	memcpy(&v, gpa(q.used_gpa + 4 + 8ULL * q.size), 2);
	return v;
}

/* Pop exactly one chain; returns virtq_pop's result. */
static int pop1(void)
{
	return virtq_pop(&q, &chain);
}

static void test_start_validation(void)
{
	ram_reset();
	virtq_reset(&q);
	q.desc_gpa = DESC_GPA;
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA;
	q.size = 0;
	CHECK_EQ(virtq_start(&q, &mem), -EINVAL);
	q.size = 3;
	CHECK_EQ(virtq_start(&q, &mem), -EINVAL);
	q.size = 2048;
	CHECK_EQ(virtq_start(&q, &mem), -EINVAL);
	q.size = 8;
	q.desc_gpa = DESC_GPA + 8;
	CHECK_EQ(virtq_start(&q, &mem), -EINVAL);
	q.desc_gpa = DESC_GPA;
	q.avail_gpa = AVAIL_GPA + 1;
	CHECK_EQ(virtq_start(&q, &mem), -EINVAL);
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA + 2;
	CHECK_EQ(virtq_start(&q, &mem), -EINVAL);
	CHECK(!q.started);
	/* Rings beyond RAM, straddling its end, and in the MMIO hole. */
	q.used_gpa = RAM_SIZE;
	CHECK_EQ(virtq_start(&q, &mem), -EFAULT);
	q.used_gpa = RAM_SIZE - 64; /* 6 + 8*8 = 70 bytes */
	CHECK_EQ(virtq_start(&q, &mem), -EFAULT);
	q.used_gpa = RAM_SIZE - 72;
	CHECK_EQ(virtq_start(&q, &mem), 0);
	q.desc_gpa = 0xFFFFFFFFFFFFFFF0ULL;
	CHECK_EQ(virtq_start(&q, &mem), -EFAULT);
	q.desc_gpa = MMIO_HOLE_START;
	CHECK_EQ(virtq_start(&q, &mem), -EFAULT);
	CHECK(!q.started);
	/* Nothing is popped from a stopped queue. */
	CHECK_EQ(pop1(), 0);
	CHECK(!virtq_need_interrupt(&q));
	CHECK(!virtq_enable_kicks(&q));
}

static void test_simple_chain(void)
{
	ram_reset();
	ring_setup(8, false, false);
	CHECK_EQ(pop1(), 0);
	put_desc(DESC_GPA, 5, BUF_GPA, 16, VRING_DESC_F_NEXT, 2);
	put_desc(DESC_GPA, 2, BUF_GPA + 0x100, 100, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 7);
	put_desc(DESC_GPA, 7, BUF_GPA + 0x200, 1, VRING_DESC_F_WRITE, 0);
	offer(5);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.head, 5);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_OK);
	CHECK_EQ(chain.n_readable, 1);
	CHECK_EQ(chain.n_writable, 2);
	CHECK_EQ(chain.readable_len, 16);
	CHECK_EQ(chain.writable_len, 101);
	CHECK(chain.tail_writable);
	CHECK(chain.iov[0].iov_base == ram + BUF_GPA);
	CHECK(chain.iov[1].iov_base == ram + BUF_GPA + 0x100);
	CHECK(chain.iov[2].iov_base == ram + BUF_GPA + 0x200);
	CHECK_EQ(pop1(), 0);
	virtq_push(&q, chain.head, 101);
	CHECK_EQ(used_idx_read(), 1);
	uint32_t id, len;
	used_elem(0, &id, &len);
	CHECK_EQ(id, 5);
	CHECK_EQ(len, 101);
	/* Without EVENT_IDX: interrupt unless the driver set NO_INTERRUPT. */
	CHECK(virtq_need_interrupt(&q));
	CHECK(!virtq_need_interrupt(&q)); /* nothing new since */
	uint16_t flags = VRING_AVAIL_F_NO_INTERRUPT;
	memcpy(gpa(AVAIL_GPA), &flags, 2);
	offer(5);
	CHECK_EQ(pop1(), 1);
	virtq_push(&q, chain.head, 0);
	CHECK(!virtq_need_interrupt(&q));
}

static void test_bad_addresses(void)
{
	ram_reset();
	ring_setup(8, false, false);
	/* A readable buffer beyond RAM: recorded and skipped, the walk goes on. */
	put_desc(DESC_GPA, 0, RAM_SIZE, 16, VRING_DESC_F_NEXT, 1);
	put_desc(DESC_GPA, 1, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_ADDR);
	CHECK(chain.tail_writable);
	CHECK_EQ(chain.n_readable, 0);
	CHECK_EQ(chain.n_writable, 1);
	/* Straddling the end of RAM. */
	put_desc(DESC_GPA, 0, RAM_SIZE - 8, 16, VRING_DESC_F_NEXT, 1);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_ADDR);
	/* Address wrap-around: addr + len overflows 64 bits. */
	put_desc(DESC_GPA, 0, 0xFFFFFFFFFFFFFF00ULL, 0x200, VRING_DESC_F_NEXT, 1);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_ADDR);
	/* A bad status buffer: no writable tail. */
	put_desc(DESC_GPA, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(DESC_GPA, 1, RAM_SIZE + 4096, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_ADDR);
	CHECK(!chain.tail_writable);
	CHECK_EQ(chain.n_readable, 1);
	/* Buffer ending exactly at the end of RAM is fine. */
	put_desc(DESC_GPA, 1, RAM_SIZE - 1, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_OK);
	CHECK(chain.iov[1].iov_base == ram + RAM_SIZE - 1);
}

static void test_bad_index_and_loops(void)
{
	ram_reset();
	ring_setup(8, false, false);
	put_desc(DESC_GPA, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 8); /* next == size */
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_INDEX);
	CHECK(!chain.tail_writable);
	/* Self loop. */
	put_desc(DESC_GPA, 3, BUF_GPA, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
	offer(3);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_TOO_LONG);
	CHECK(!chain.tail_writable);
	CHECK(chain.n_writable <= 8);
	/* Longer loop 0 -> 1 -> 2 -> 0. */
	put_desc(DESC_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
	put_desc(DESC_GPA, 1, BUF_GPA, 4, VRING_DESC_F_NEXT, 2);
	put_desc(DESC_GPA, 2, BUF_GPA, 4, VRING_DESC_F_NEXT, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_TOO_LONG);
	CHECK_EQ(chain.n_readable, 8);
	/* A chain of exactly size descriptors is fine. */
	for (uint16_t i = 0; i < 8; i++)
		put_desc(DESC_GPA, i, BUF_GPA + i, 1,
			 i < 7 ? VRING_DESC_F_NEXT : VRING_DESC_F_WRITE, i + 1);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_OK);
	CHECK_EQ(chain.n_readable, 7);
	CHECK_EQ(chain.n_writable, 1);
}

static void test_zero_lengths(void)
{
	ram_reset();
	ring_setup(8, false, false);
	/* Zero-length descriptors need no memory, whatever their address. */
	put_desc(DESC_GPA, 0, 0xDEAD0000000ULL, 0, VRING_DESC_F_NEXT, 1);
	put_desc(DESC_GPA, 1, BUF_GPA, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	put_desc(DESC_GPA, 2, BUF_GPA, 0, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_OK);
	CHECK_EQ(chain.n_readable, 1);
	CHECK_EQ(chain.n_writable, 2);
	CHECK(chain.iov[0].iov_base == NULL && chain.iov[0].iov_len == 0);
	CHECK_EQ(chain.writable_len, 1);
	CHECK(!chain.tail_writable); /* the last writable buffer has no byte for a status */
}

static void test_read_after_write(void)
{
	ram_reset();
	ring_setup(8, false, false);
	put_desc(DESC_GPA, 0, BUF_GPA, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	put_desc(DESC_GPA, 1, BUF_GPA, 16, VRING_DESC_F_NEXT, 2);
	put_desc(DESC_GPA, 2, BUF_GPA + 64, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_READ_AFTER_WRITE);
	CHECK_EQ(chain.n_readable, 0);
	CHECK_EQ(chain.n_writable, 2);
	CHECK(chain.tail_writable); /* the status byte can still report the failure */
	CHECK(chain.iov[1].iov_base == ram + BUF_GPA + 64);
}

static void test_indirect(void)
{
	const uint64_t table = 0x50000;

	ram_reset();
	ring_setup(8, false, true);
	put_desc(table, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(table, 1, BUF_GPA + 512, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	put_desc(table, 2, BUF_GPA + 2048, 1, VRING_DESC_F_WRITE, 0);
	put_desc(DESC_GPA, 4, table, 48, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.head, 4);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_OK);
	CHECK_EQ(chain.n_readable, 1);
	CHECK_EQ(chain.n_writable, 2);
	CHECK(chain.tail_writable);
	CHECK(chain.iov[2].iov_base == ram + BUF_GPA + 2048);
	/* Direct descriptors before the indirect one. */
	put_desc(DESC_GPA, 3, BUF_GPA, 16, VRING_DESC_F_NEXT, 4);
	offer(3);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_OK);
	CHECK_EQ(chain.n_readable, 2);
	/* Indirect inside indirect. */
	put_desc(table, 2, table, 48, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_INDIRECT);
	CHECK(!chain.tail_writable);
	put_desc(table, 2, BUF_GPA + 2048, 1, VRING_DESC_F_WRITE, 0);
	/* Bad lengths: zero, not a multiple of 16. */
	put_desc(DESC_GPA, 4, table, 0, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_INDIRECT);
	put_desc(DESC_GPA, 4, table, 47, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_INDIRECT);
	/* INDIRECT together with NEXT. */
	put_desc(DESC_GPA, 4, table, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 5);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_INDIRECT);
	/* Table outside RAM, and huge. */
	put_desc(DESC_GPA, 4, RAM_SIZE - 32, 48, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_ADDR);
	put_desc(DESC_GPA, 4, table, 0xFFFFFFF0U, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_ADDR);
	/* next beyond the table, and a loop inside it. */
	put_desc(DESC_GPA, 4, table, 32, VRING_DESC_F_INDIRECT, 0); /* 2 entries */
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_INDEX);
	put_desc(table, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_TOO_LONG);
	/* A table longer than the queue size: the walk stops at size descriptors. */
	for (uint16_t i = 0; i < 16; i++)
		put_desc(table, i, BUF_GPA, 1, i < 15 ? VRING_DESC_F_NEXT : VRING_DESC_F_WRITE,
			 i + 1);
	put_desc(DESC_GPA, 4, table, 16 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_TOO_LONG);
	/* Not negotiated. */
	ring_setup(8, false, false);
	put_desc(table, 0, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	put_desc(DESC_GPA, 4, table, 16, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_INDIRECT);
}

static void test_fatal_ring_errors(void)
{
	ram_reset();
	ring_setup(8, false, false);
	put_desc(DESC_GPA, 0, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	set_avail_idx(9); /* 9 entries in an 8-entry ring */
	CHECK_EQ(pop1(), -EIO);
	CHECK(q.broken);
	CHECK_EQ(pop1(), 0);
	CHECK(!virtq_enable_kicks(&q));
	/* Exactly size ahead is fine. */
	ring_setup(8, false, false);
	for (int i = 0; i < 8; i++)
		offer(0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(pop1(), 1);
	CHECK_EQ(pop1(), 0);
	/* Head index out of range. */
	ring_setup(8, false, false);
	offer(8);
	CHECK_EQ(pop1(), -EIO);
	CHECK(q.broken);
	/* Going backwards (a jump of 65535). */
	ring_setup(8, false, false);
	set_avail_idx(0xFFFF);
	CHECK_EQ(pop1(), -EIO);
}

static void test_index_wrap(void)
{
	ram_reset();
	ring_setup(4, true, false);
	put_desc(DESC_GPA, 1, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	/* Pretend 65534 buffers have gone through. */
	q.last_avail = q.used_idx = q.signalled_used = 65534;
	avail_idx = 65534;
	set_used_event(65535);
	for (int i = 0; i < 3; i++)
		offer(1); /* avail idx 65534 -> 1 */
	CHECK_EQ(avail_idx, 1);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(pop1(), 1);
		CHECK_EQ(chain.head, 1);
		virtq_push(&q, chain.head, 1);
	}
	CHECK_EQ(pop1(), 0);
	CHECK_EQ(q.last_avail, 1);
	CHECK_EQ(used_idx_read(), 1);
	uint32_t id, len;
	used_elem(65535 % 4, &id, &len);
	CHECK_EQ(id, 1);
	used_elem(0, &id, &len);
	CHECK_EQ(id, 1);
	/* used_event 65535 was crossed going 65534 -> 1. */
	CHECK(virtq_need_interrupt(&q));
	CHECK(!virtq_need_interrupt(&q));
	/* avail_event: where we will next look. */
	CHECK(!virtq_enable_kicks(&q));
	CHECK_EQ(avail_event_read(), 1);
	offer(1);
	CHECK(virtq_enable_kicks(&q));
}

static void test_need_event_math(void)
{
	CHECK(virtq_need_event(0, 1, 0));
	CHECK(!virtq_need_event(1, 1, 0));
	CHECK(virtq_need_event(5, 10, 0));
	CHECK(!virtq_need_event(10, 10, 0));
	CHECK(!virtq_need_event(3, 3, 3));
	/* At wrap: old 65534, new 1 (3 used). */
	CHECK(virtq_need_event(65534, 1, 65534));
	CHECK(virtq_need_event(65535, 1, 65534));
	CHECK(virtq_need_event(0, 1, 65534));
	CHECK(!virtq_need_event(1, 1, 65534));
	CHECK(!virtq_need_event(65533, 1, 65534));
	CHECK(!virtq_need_event(2, 1, 65534));
}

static void test_event_idx_suppression(void)
{
	ram_reset();
	ring_setup(8, true, false);
	put_desc(DESC_GPA, 0, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	set_used_event(2); /* interrupt once entry 2 is used */
	for (int i = 0; i < 4; i++)
		offer(0);
	CHECK_EQ(pop1(), 1);
	virtq_push(&q, 0, 1);
	CHECK(!virtq_need_interrupt(&q)); /* used 0 -> 1 */
	CHECK_EQ(pop1(), 1);
	virtq_push(&q, 0, 1);
	CHECK(!virtq_need_interrupt(&q)); /* 1 -> 2 */
	CHECK_EQ(pop1(), 1);
	virtq_push(&q, 0, 1);
	CHECK(virtq_need_interrupt(&q)); /* 2 -> 3 passes event 2 */
	CHECK_EQ(pop1(), 1);
	virtq_push(&q, 0, 1);
	CHECK(!virtq_need_interrupt(&q));
	/* avail_event tells the driver to kick for entry 4. */
	CHECK(!virtq_enable_kicks(&q));
	CHECK_EQ(avail_event_read(), 4);
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	uint16_t flags = VRING_AVAIL_F_NO_INTERRUPT;
	memcpy(gpa(AVAIL_GPA), &flags, 2);
	set_used_event(4);
	offer(0);
	CHECK_EQ(pop1(), 1);
	virtq_push(&q, 0, 1);
	CHECK(virtq_need_interrupt(&q));
}

static void test_chain_too_big(void)
{
	/* 3 GiB + 64 KiB of reserved address space: two overlapping 3 GiB buffers are RAM but
	 * add up to more than 4 GiB. */
	uint64_t size = MMIO_HOLE_START + 0x10000;
	uint8_t *big = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	CHECK(big != MAP_FAILED);
	if (big == MAP_FAILED)
		return;
	gmem_init(&mem, big, size);
	ring_setup(8, false, false);
	put_desc(DESC_GPA, 0, 0, 0xC0000000U, VRING_DESC_F_NEXT, 1);
	put_desc(DESC_GPA, 1, 0, 0xC0000000U, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	put_desc(DESC_GPA, 2, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_TOO_BIG);
	CHECK_EQ(chain.n_readable, 1);
	CHECK(chain.tail_writable);
	munmap(big, size);
	gmem_init(&mem, ram, RAM_SIZE);
}

static void test_high_region(void)
{
	/* 3 GiB low + 1 MiB above 4 GiB, reserved only: the 3-4 GiB hole is not RAM. */
	uint64_t size = MMIO_HOLE_START + 0x100000;
	uint8_t *big = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	const uint64_t hi = MMIO_HOLE_END;

	CHECK(big != MAP_FAILED);
	if (big == MAP_FAILED)
		return;
	gmem_init(&mem, big, size);
	virtq_reset(&q);
	q.size = 8;
	q.desc_gpa = hi;
	q.avail_gpa = hi + 0x1000;
	q.used_gpa = MMIO_HOLE_START - 16; /* straddles the end of low RAM */
	CHECK_EQ(virtq_start(&q, &mem), -EFAULT);
	q.used_gpa = MMIO_HOLE_START + 0x1000; /* in the hole */
	CHECK_EQ(virtq_start(&q, &mem), -EFAULT);
	q.used_gpa = hi + 0x100000 - 72; /* ends at the end of high RAM */
	CHECK_EQ(virtq_start(&q, &mem), 0);
	CHECK(q.desc == big + MMIO_HOLE_START);
	avail_idx = 0;
	put_desc(hi, 0, hi + 0x2000, 16, VRING_DESC_F_NEXT, 1);
	put_desc(hi, 1, MMIO_HOLE_START - 8, 16, VRING_DESC_F_NEXT, 2); /* low end */
	put_desc(hi, 2, MMIO_HOLE_END - 8, 16, VRING_DESC_F_NEXT, 3);	/* hole to high */
	put_desc(hi, 3, MMIO_HOLE_START - 16, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 4);
	put_desc(hi, 4, hi + 0x100000 - 1, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop1(), 1);
	CHECK_EQ(chain.error, VIRTQ_CHAIN_BAD_ADDR);
	CHECK_EQ(chain.n_readable, 1);
	CHECK_EQ(chain.n_writable, 2);
	CHECK(chain.iov[0].iov_base == big + MMIO_HOLE_START + 0x2000);
	CHECK(chain.iov[1].iov_base == big + MMIO_HOLE_START - 16);
	CHECK(chain.iov[2].iov_base == big + size - 1);
	CHECK(chain.tail_writable);
	virtq_push(&q, 0, 17);
	CHECK_EQ(used_idx_read(), 1);
	munmap(big, size);
	gmem_init(&mem, ram, RAM_SIZE);
}

static void test_push_n(void)
{
	struct virtq_used_elem e[9];
	uint32_t id, len;

	ram_reset();
	ring_setup(8, true, false);
	for (uint16_t i = 0; i < 9; i++)
		e[i] = (struct virtq_used_elem){.head = (uint16_t)(7 - i % 8), .len = 100U + i};
	/* n elements land in order, used->idx moves once, by n. */
	CHECK_EQ(virtq_push_n(&q, e, 3), 0);
	CHECK_EQ(used_idx_read(), 3);
	CHECK_EQ(q.used_idx, 3);
	for (uint16_t i = 0; i < 3; i++) {
		used_elem(i, &id, &len);
		CHECK_EQ(id, e[i].head);
		CHECK_EQ(len, e[i].len);
	}
	/* Nothing to push: nothing changes. */
	CHECK_EQ(virtq_push_n(&q, e, 0), 0);
	CHECK_EQ(used_idx_read(), 3);
	/* More than the ring holds: refused, nothing written. */
	memset(gpa(USED_GPA + 4), 0xAA, 8U * 8);
	CHECK_EQ(virtq_push_n(&q, e, 9), -EINVAL);
	CHECK_EQ(used_idx_read(), 3);
	CHECK_EQ(q.used_idx, 3);
	used_elem(3, &id, &len);
	CHECK_EQ(id, 0xAAAAAAAAU);
	/* A whole ring's worth at once is fine. */
	CHECK_EQ(virtq_push_n(&q, e, 8), 0);
	CHECK_EQ(used_idx_read(), 11);
	for (uint16_t i = 0; i < 8; i++) {
		used_elem((uint16_t)((3 + i) % 8), &id, &len);
		CHECK_EQ(id, e[i].head);
		CHECK_EQ(len, e[i].len);
	}
	/* EVENT_IDX: one interrupt decision covers the batch (used_event 10 passed by 3 -> 11). */
	set_used_event(10);
	q.signalled_used = 3;
	CHECK(virtq_need_interrupt(&q));
	CHECK(!virtq_need_interrupt(&q));
	/* Wrap-around: idx 65534 + 5 = 3, elements in slots 6, 7, 0, 1, 2. */
	q.used_idx = q.signalled_used = 65534;
	set_used_event(65535);
	CHECK_EQ(virtq_push_n(&q, e, 5), 0);
	CHECK_EQ(used_idx_read(), 3);
	CHECK_EQ(q.used_idx, 3);
	for (uint16_t i = 0; i < 5; i++) {
		used_elem((uint16_t)((65534U + i) % 8), &id, &len);
		CHECK_EQ(id, e[i].head);
		CHECK_EQ(len, e[i].len);
	}
	CHECK(virtq_need_interrupt(&q)); /* 65535 was passed going 65534 -> 3 */
	set_used_event(2);
	CHECK_EQ(virtq_push_n(&q, e, 1), 0);
	CHECK(!virtq_need_interrupt(&q)); /* 3 -> 4 does not pass 2 */
	/* virtq_push is the n = 1 case. */
	virtq_push(&q, 5, 77);
	CHECK_EQ(used_idx_read(), 5);
	used_elem(4, &id, &len);
	CHECK_EQ(id, 5);
	CHECK_EQ(len, 77);
	/* A stopped queue ignores pushes. */
	q.started = false;
	CHECK_EQ(virtq_push_n(&q, e, 2), 0);
	CHECK_EQ(used_idx_read(), 5);
}

static void test_iov_helpers(void)
{
	uint8_t a[3] = {1, 2, 3}, b[5] = {4, 5, 6, 7, 8}, out[8];
	struct iovec iov[4] = {{a, 3}, {NULL, 0}, {b, 5}, {NULL, 0}}, sl[4];
	int n;

	memset(out, 0, sizeof(out));
	CHECK_EQ(iov_gather(iov, 4, 2, out, 4), 4);
	CHECK(out[0] == 3 && out[1] == 4 && out[3] == 6);
	CHECK_EQ(iov_gather(iov, 4, 6, out, 8), 2);
	CHECK_EQ(iov_gather(iov, 4, 8, out, 8), 0);
	CHECK_EQ(iov_gather(iov, 4, 100, out, 8), 0);
	uint8_t src[3] = {9, 9, 9};
	CHECK_EQ(iov_scatter(iov, 4, 1, src, 3), 3);
	CHECK(a[1] == 9 && a[2] == 9 && b[0] == 9 && b[1] == 5);
	n = iov_slice(iov, 4, 2, 4, sl, 4);
	CHECK_EQ(n, 2);
	CHECK(sl[0].iov_base == a + 2 && sl[0].iov_len == 1);
	CHECK(sl[1].iov_base == b && sl[1].iov_len == 3);
	CHECK_EQ(iov_slice(iov, 4, 0, 9, sl, 4), -EINVAL);
	CHECK_EQ(iov_slice(iov, 4, 0, 8, sl, 1), -EINVAL);
	CHECK_EQ(iov_slice(iov, 4, 3, 0, sl, 4), 0);
	CHECK_EQ(iov_slice(iov, 4, 0, 8, sl, 2), 2);
}

static void test_reset(void)
{
	ram_reset();
	ring_setup(8, true, true);
	/* Every start (QueueReady 0 then 1) is a new generation; a failed one is not. */
	uint32_t gen = q.generation;
	q.started = false;
	q.size = 4;
	CHECK_EQ(virtq_start(&q, &mem), 0);
	CHECK_EQ(q.generation, gen + 1);
	q.started = false;
	q.size = 3;
	CHECK_EQ(virtq_start(&q, &mem), -EINVAL);
	CHECK_EQ(q.generation, gen + 1);
	virtq_reset(&q);
	CHECK(!q.started);
	CHECK_EQ(q.size, 0);
	CHECK_EQ(pop1(), 0);
	virtq_push(&q, 0, 0); /* ignored when stopped */
}

/* An empty entry may have a NULL base (a zero-length descriptor): copies skip it without
 * pointer arithmetic on NULL (UBSan checks). Found by fuzz_net_tx. */
static void test_iov_empty_null_entry(void)
{
	uint8_t a[4] = {1, 2, 3, 4}, out[4] = {0};
	struct iovec iov[3] = {{NULL, 0}, {a, 4}, {NULL, 0}};

	CHECK_EQ(iov_gather(iov, 3, 0, out, 4), 4);
	CHECK(!memcmp(out, a, 4));
	CHECK_EQ(iov_scatter(iov, 3, 1, out, 3), 3);
	CHECK_EQ(a[1], 1);
}

int main(void)
{
	ram = malloc(RAM_SIZE);
	if (!ram)
		return 1;
	RUN(test_iov_empty_null_entry);
	RUN(test_start_validation);
	RUN(test_simple_chain);
	RUN(test_bad_addresses);
	RUN(test_bad_index_and_loops);
	RUN(test_zero_lengths);
	RUN(test_read_after_write);
	RUN(test_indirect);
	RUN(test_fatal_ring_errors);
	RUN(test_index_wrap);
	RUN(test_need_event_math);
	RUN(test_event_idx_suppression);
	RUN(test_push_n);
	RUN(test_chain_too_big);
	RUN(test_high_region);
	RUN(test_iov_helpers);
	RUN(test_reset);
	free(ram);
	return unit_summary("test_virtqueue");
}
