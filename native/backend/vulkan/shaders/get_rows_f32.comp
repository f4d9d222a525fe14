#version 450
#define TYPE_F32
#include "get_rows.glsl"
