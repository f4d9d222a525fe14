#version 450
#define TYPE_IQ4_NL
#include "get_rows.glsl"
