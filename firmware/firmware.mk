# Firmware images (the built-in guests), built with the host gcc as freestanding PVH ELFs.
# Included by the top-level Makefile; B is the build directory, FW_IMGS the images it embeds.

FW_CC      := $(HOSTCC)
FW_OBJ     := $(B)/fwobj
FW_CFLAGS  := -std=c11 -Os -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wvla -ffreestanding -fno-builtin -nostdinc \
              -isystem $(shell $(FW_CC) -print-file-name=include) \
              -fno-pic -fno-pie -mcmodel=small -mno-red-zone -mno-sse -mno-mmx -mno-80387 \
              -mgeneral-regs-only -fno-stack-protector -fno-stack-clash-protection \
              -fcf-protection=none -fno-asynchronous-unwind-tables -fno-unwind-tables \
              -fno-strict-aliasing -ffunction-sections -fdata-sections -MMD -MP
FW_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,firmware/link.ld -Wl,--gc-sections \
              -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack \
              -Wl,--no-warn-rwx-segments -Wl,-s

# The runtime every image links; each program adds its own sources.
FW_RUNTIME := start.S lib.c
FW_SRCS_hello    := hello.c faults.S
FW_SRCS_selftest := selftest.c selftest_smp.c selftest_blk.c selftest_net.c selftest_rng.c selftest_vsock.c vq_poll.c \
                    virtio_driver.c apic.c

fw_objs = $(patsubst %,$(FW_OBJ)/%.o,$(basename $(FW_RUNTIME) $(FW_SRCS_$(1))))

$(FW_OBJ)/%.o: firmware/%.c
	@mkdir -p $(dir $@)
	$(FW_CC) $(FW_CFLAGS) -c $< -o $@

$(FW_OBJ)/%.o: firmware/%.S
	@mkdir -p $(dir $@)
	$(FW_CC) $(FW_CFLAGS) -c $< -o $@

.SECONDEXPANSION:
$(B)/firmware/%.elf: $$(call fw_objs,$$*) firmware/link.ld
	@mkdir -p $(dir $@)
	$(FW_CC) $(FW_LDFLAGS) $(filter %.o,$^) -o $@

# Keep the objects (they are intermediate through the pattern rules).
.PRECIOUS: $(FW_OBJ)/%.o

firmware: $(FW_IMGS)

-include $(wildcard $(FW_OBJ)/*.d)
