#version 450
#define TYPE_Q4_K
#include "get_rows.glsl"
