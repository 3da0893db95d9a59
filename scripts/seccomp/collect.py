# Prints the system calls made by the vCPU threads of a scripts/measure-seccomp.sh run.
import re, sys, glob, collections
names=collections.Counter(); ioctls=collections.Counter(); sig=collections.Counter()
for d in sys.argv[1:]:
    for r in (1,2):
        log=re.sub(r"\x1b\[[0-9;]*m","",open(f"{d}/log{r}").read())
        tids=re.findall(r"tid=(\d+)", log)
        for t in tids:
            for line in open(f"{d}/trace/r{r}.{t}"):
                m=re.match(r"^(\w+)\(", line)
                if m:
                    names[m.group(1)]+=1
                    if m.group(1)=="ioctl":
                        a=line.split(",")[1].strip()
                        ioctls[a.split()[0]]+=1
                elif line.startswith("---"):
                    sig[line.split()[1]]+=1
print("SYSCALLS", sorted(names.items()))
print("IOCTLS", sorted(ioctls.items()))
print("SIGNALS", sig)
