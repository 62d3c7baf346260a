# seccomp build rules; included from the top-level Makefile after OBJS is defined.
#
# seccomp/seccomp_bpf.h holds the per-role BPF programs, compiled from seccomp/rules.h by
# libseccomp at build time (seccomp/tools/bpfgen.c, linked with deps/lib/libseccomp.a), so the
# launcher only patches in its fds and loads them. The file is committed, so the launcher
# builds without these rules too; they regenerate it whenever rules.h or the generator change
# (commit the result with them). Output is deterministic for a given libseccomp.
#
# build/microvm-test is the launcher with -DMICROVM_TEST_HOOKS in seccomp/filters.c (the
# MICROVM_TEST_FORBIDDEN_SYSCALL hook used by tests/seccomp.bats); build/microvm never has it.

SECCOMP_BPF := seccomp/seccomp_bpf.h
SECCOMP_CFLAGS := $(filter-out -MMD -MP,$(CFLAGS))

$(B)/tools/bpfgen: seccomp/tools/bpfgen.c seccomp/rules.h seccomp/seccomp.h seccomp/role.h $(DEPS)/lib/libseccomp.a
	@mkdir -p $(dir $@)
	$(CC) $(SECCOMP_CFLAGS) $(LDFLAGS) $< $(DEPS)/lib/libseccomp.a -o $@

$(SECCOMP_BPF): seccomp/tools/bpfgen.c seccomp/rules.h seccomp/seccomp.h seccomp/role.h | $(B)/tools/bpfgen
	$(B)/tools/bpfgen > $@.tmp && mv $@.tmp $@

$(B)/obj/seccomp/filters.o: $(SECCOMP_BPF)

$(B)/obj-test/seccomp/filters.o: seccomp/filters.c $(SECCOMP_BPF) seccomp/seccomp.h | $(DEPS)/lib/libseccomp.a
	@mkdir -p $(dir $@)
	$(CC) $(SECCOMP_CFLAGS) -DMICROVM_TEST_HOOKS -c $< -o $@

$(B)/microvm-test: $(filter-out $(B)/obj/seccomp/filters.o,$(OBJS)) $(B)/obj-test/seccomp/filters.o
	$(CC) $(LDFLAGS) $^ $(DEPS)/lib/libseccomp.a -o $@

$(B)/unit/test_seccomp: $(SECCOMP_BPF)
