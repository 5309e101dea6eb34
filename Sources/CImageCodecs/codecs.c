#include "CImageCodecs.h"
int image_codecs_placeholder(void) { return 0; }
