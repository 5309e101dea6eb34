#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
int image_codecs_placeholder(void);
#endif
