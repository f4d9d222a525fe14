#version 450
#define TYPE_Q8_0
#include "get_rows.glsl"
