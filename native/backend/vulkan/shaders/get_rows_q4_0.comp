#version 450
#define TYPE_Q4_0
#include "get_rows.glsl"
