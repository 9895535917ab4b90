/* Loads a DLL under wine and finds its entry point: tools/test-windows.sh's check that the
   shipped (LTO-built) godot_websocket_server.dll loads. Usage: load_library.exe DLL */
#include <windows.h>
#include <stdio.h>
int main(int argc, char **argv) {
  HMODULE m = LoadLibraryA(argv[1]);
  if (!m) { printf("LoadLibrary failed: %lu\n", GetLastError()); return 1; }
  FARPROC f = GetProcAddress(m, "gdext_rust_init");
  printf("loaded, gdext_rust_init at %p\n", (void*)f);
  return f ? 0 : 2;
}
