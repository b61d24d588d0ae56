# make install [PREFIX=/usr/local]   release build, then PREFIX/bin/statelab
# make uninstall [PREFIX=...]        removes PREFIX/bin/statelab
# make test                          swift test
# The release build has its own scratch path, so it never clobbers .build (debug).
PREFIX ?= /usr/local
BINDIR = $(DESTDIR)$(PREFIX)/bin
SCRATCH = .build-release

.PHONY: all build install uninstall test

all: build

build:
	swift build -c release --scratch-path $(SCRATCH)

install: build
	install -d "$(BINDIR)"
	install -m 0755 "$$(swift build -c release --scratch-path $(SCRATCH) --show-bin-path)/statelab" "$(BINDIR)/statelab"
	@echo "installed $(BINDIR)/statelab"

uninstall:
	rm -f "$(BINDIR)/statelab"

test:
	swift test
