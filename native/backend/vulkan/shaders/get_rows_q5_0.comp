#version 450
#define TYPE_Q5_0
#include "get_rows.glsl"
