#version 450
#define TYPE_IQ4_XS
#include "get_rows.glsl"
