// Debian installs OpenBLAS's cblas.h under the multiarch include directory.
#include <x86_64-linux-gnu/cblas.h>
