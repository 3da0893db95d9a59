// Traps with `unreachable`.
int main(void) {
    __builtin_trap();
}
