package labimages

import (
	"encoding/binary"
	"fmt"
)

// staticApp is the program of the lessons' shell-less base image: a
// static Linux executable of a few dozen bytes that waits for a signal
// and does nothing else (as the pause container does). It is written here
// instruction by instruction, not compiled, so imagelab needs no
// toolchain to make it for a node's architecture, and no scanner finds a
// language runtime in it to report (a Go binary's standard library would
// collect CVEs as it ages).
func staticApp(arch string) ([]byte, error) {
	var machine uint16
	var code []byte
	switch arch {
	case "amd64":
		machine = 62 // EM_X86_64
		code = []byte{
			0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
			0x0f, 0x05, // syscall
			0xeb, 0xf7, // jmp back to mov
		}
	case "arm64":
		machine = 183 // EM_AARCH64
		// arm64 has no pause: ppoll(NULL, 0, NULL, NULL) waits the same way.
		for _, ins := range []uint32{
			0xd2800000, // mov x0, #0
			0xd2800001, // mov x1, #0
			0xd2800002, // mov x2, #0
			0xd2800003, // mov x3, #0
			0xd2800928, // mov x8, #73 (ppoll)
			0xd4000001, // svc #0
			0x17fffffa, // b back to the first mov
		} {
			code = binary.LittleEndian.AppendUint32(code, ins)
		}
	default:
		return nil, fmt.Errorf("no static program for %s (imagelab has one for amd64 and arm64)", arch)
	}
	return elf64(machine, code), nil
}

// elf64 is a minimal static ELF64 executable: the header, one loadable
// segment (the whole file, read+execute) and the code right after them.
func elf64(machine uint16, code []byte) []byte {
	const (
		base     = 0x400000
		ehsize   = 64
		phsize   = 56
		codeAddr = base + ehsize + phsize
	)
	le := binary.LittleEndian
	b := make([]byte, 0, ehsize+phsize+len(code))
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */, 0 /* System V */)
	b = append(b, make([]byte, 8)...) // padding of e_ident
	b = le.AppendUint16(b, 2)         // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1) // EV_CURRENT
	b = le.AppendUint64(b, codeAddr)
	b = le.AppendUint64(b, ehsize) // program headers right after this one
	b = le.AppendUint64(b, 0)      // no section headers
	b = le.AppendUint32(b, 0)      // flags
	b = le.AppendUint16(b, ehsize)
	b = le.AppendUint16(b, phsize)
	b = le.AppendUint16(b, 1)  // one program header
	b = le.AppendUint16(b, 64) // section header size (none follow)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	total := uint64(ehsize + phsize + len(code))
	b = le.AppendUint32(b, 1) // PT_LOAD
	b = le.AppendUint32(b, 5) // PF_R | PF_X
	b = le.AppendUint64(b, 0) // from the file's start
	b = le.AppendUint64(b, base)
	b = le.AppendUint64(b, base)
	b = le.AppendUint64(b, total)
	b = le.AppendUint64(b, total)
	b = le.AppendUint64(b, 0x10000) // 64 KiB: valid for 4K, 16K and 64K pages
	return append(b, code...)
}
