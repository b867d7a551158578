# C modules: the kernel_stub header object and the example modules, for i386 and
# x86_64, built with the system gcc and no libc.  Included by the top Makefile
# (which defines BUILD).  Outputs, for ARCH in i386 x86_64:
#
#   $(BUILD)/ARCH/kernel_stub/module.o     struct module_new (Zippel's init/module.c)
#   $(BUILD)/ARCH/examples/NAME.o          the module as gcc makes it
#   $(BUILD)/ARCH/examples/NAME.common.o   -fcommon: uninitialised globals are SHN_COMMON
#   $(BUILD)/ARCH/examples/NAME.eh.o       .eh_frame kept (oracle stress)
#   $(BUILD)/x86_64/examples/NAME.small.o  -mcmodel=small: must overflow at a kernel address
#   $(BUILD)/ARCH/examples/NAME.pre.o      NAME.o prelinked: ld -r NAME.o module.o -T lds/modules.lds
#
# The flag lists are the same as insmod_py/toolchain.py (the prelink command builds the
# stub itself when it is missing); tests/test_examples_build.py checks they agree via
# `make modules-flags`.  Every output is written to a temporary name and renamed, so
# parallel and concurrent makes never leave or read half a file.  V=1 shows commands.

MOD_CC ?= gcc
MOD_LD ?= ld
MOD_ARCHES := i386 x86_64
MOD_EXAMPLES := $(sort $(basename $(notdir $(wildcard examples/*.c))))

# Keep in sync with insmod_py/toolchain.py (COMMON_CFLAGS, ARCH_CFLAGS, VARIANT_REPLACE);
# the reasons for each flag are written there.
MOD_CFLAGS := -O2 -fno-pic -fno-pie -ffreestanding -fno-common -nostdinc \
	-D__KERNEL__ -DMODULE -fno-strict-aliasing -fno-stack-protector \
	-fcf-protection=none -fno-asynchronous-unwind-tables \
	-fno-delete-null-pointer-checks -fno-ipa-reference-addressable -Wall
MOD_CFLAGS_i386 := -m32 -march=i686 -mpreferred-stack-boundary=2
MOD_CFLAGS_x86_64 := -m64 -mcmodel=kernel -mno-red-zone -mno-sse -mno-mmx
MOD_INCLUDE := -Ikernel_stub/include

MOD_VARIANTS_i386 := common eh
MOD_VARIANTS_x86_64 := common eh small
MOD_REPLACE_common := -fno-common -fcommon
MOD_REPLACE_eh := -fno-asynchronous-unwind-tables -fasynchronous-unwind-tables
MOD_REPLACE_small := -mcmodel=kernel -mcmodel=small

MOD_LDEMU_i386 := elf_i386
MOD_LDEMU_x86_64 := elf_x86_64

# $(call mod_cflags,ARCH,VARIANT): the default flags with the variant's replacement.
mod_flags0 = $(MOD_CFLAGS) $(MOD_CFLAGS_$(1)) $(MOD_INCLUDE)
mod_cflags = $(if $(2),$(patsubst $(word 1,$(MOD_REPLACE_$(2))),$(word 2,$(MOD_REPLACE_$(2))),$(call mod_flags0,$(1))),$(call mod_flags0,$(1)))

# Every object depends on all headers, the script and this file: a handful of
# small files, so a full rebuild is cheaper than tracking .d files.
MOD_HEADERS := $(wildcard kernel_stub/include/*/*.h)
MOD_DEPS := $(MOD_HEADERS) mk/modules.mk

# Quiet unless V=1; silent (no "CC ..." lines either) under make -s.
ifeq ($(V),1)
  mod_Q :=
  mod_echo := @:
else
  mod_Q := @
  ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
    mod_echo := @:
  else
    mod_echo := @echo
  endif
endif

MOD_ALL :=

# $(call mod_arch_rules,ARCH)
define mod_arch_rules
MOD_STUB_$(1) := $(BUILD)/$(1)/kernel_stub/module.o
MOD_OBJS_$(1) := $(MOD_EXAMPLES:%=$(BUILD)/$(1)/examples/%.o)
MOD_PRE_$(1) := $(MOD_EXAMPLES:%=$(BUILD)/$(1)/examples/%.pre.o)
MOD_ALL += $$(MOD_STUB_$(1)) $$(MOD_OBJS_$(1)) $$(MOD_PRE_$(1))

$$(MOD_STUB_$(1)): kernel_stub/module.c $(MOD_DEPS)
	$$(mod_echo) "  CC      $$@"
	$$(mod_Q)mkdir -p $$(@D)
	$$(mod_Q)$(MOD_CC) $$(call mod_cflags,$(1),) -c $$< -o $$@.tmp$$$$$$$$ && mv -f $$@.tmp$$$$$$$$ $$@

$$(MOD_OBJS_$(1)): $(BUILD)/$(1)/examples/%.o: examples/%.c $(MOD_DEPS)
	$$(mod_echo) "  CC      $$@"
	$$(mod_Q)mkdir -p $$(@D)
	$$(mod_Q)$(MOD_CC) $$(call mod_cflags,$(1),) -c $$< -o $$@.tmp$$$$$$$$ && mv -f $$@.tmp$$$$$$$$ $$@

$$(MOD_PRE_$(1)): $(BUILD)/$(1)/examples/%.pre.o: $(BUILD)/$(1)/examples/%.o $$(MOD_STUB_$(1)) lds/modules.lds
	$$(mod_echo) "  PRELINK $$@"
	$$(mod_Q)$(MOD_LD) -m $(MOD_LDEMU_$(1)) -r $$< $$(MOD_STUB_$(1)) -T lds/modules.lds -o $$@.tmp$$$$$$$$ && mv -f $$@.tmp$$$$$$$$ $$@
endef

# $(call mod_variant_rules,ARCH,VARIANT)
define mod_variant_rules
MOD_OBJS_$(1)_$(2) := $(MOD_EXAMPLES:%=$(BUILD)/$(1)/examples/%.$(2).o)
MOD_ALL += $$(MOD_OBJS_$(1)_$(2))

$$(MOD_OBJS_$(1)_$(2)): $(BUILD)/$(1)/examples/%.$(2).o: examples/%.c $(MOD_DEPS)
	$$(mod_echo) "  CC      $$@"
	$$(mod_Q)mkdir -p $$(@D)
	$$(mod_Q)$(MOD_CC) $$(call mod_cflags,$(1),$(2)) -c $$< -o $$@.tmp$$$$$$$$ && mv -f $$@.tmp$$$$$$$$ $$@
endef

$(foreach a,$(MOD_ARCHES),$(eval $(call mod_arch_rules,$(a))))
$(foreach a,$(MOD_ARCHES),$(foreach v,$(MOD_VARIANTS_$(a)),$(eval $(call mod_variant_rules,$(a),$(v)))))

.PHONY: modules modules-flags
modules: $(MOD_ALL)

# One line per ARCH and VARIANT ("-" = default): "ARCH VARIANT: FLAGS"; read by the tests.
modules-flags:
	@$(foreach a,$(MOD_ARCHES),echo '$(a) -: $(call mod_cflags,$(a),)';)
	@$(foreach a,$(MOD_ARCHES),$(foreach v,$(MOD_VARIANTS_$(a)),echo '$(a) $(v): $(call mod_cflags,$(a),$(v))';))
