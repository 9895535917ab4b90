/* bcryptprimitives.dll for wine 8.0, which lacks it (Windows 10 and later have it):
 * Rust's standard library takes its random bytes from ProcessPrng. This one asks
 * advapi32's RtlGenRandom (SystemFunction036). Built by tools/test-windows.sh with mingw
 * and put next to the test programs; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
