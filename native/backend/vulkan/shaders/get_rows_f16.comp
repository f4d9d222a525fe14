#version 450
#define TYPE_F16
#include "get_rows.glsl"
