#version 450
#define TYPE_Q3_K
#include "get_rows.glsl"
