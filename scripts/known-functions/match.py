# Prints where a function of a relocatable object lies in a linked object: its bytes, relocated bytes masked.
# usage: match.py OBJECT.o LINKED NAME
import subprocess, sys, re
def sh(*a): return subprocess.run(a, capture_output=True, text=True).stdout
def sym(obj, name):
    for l in sh('readelf','-sW',obj).splitlines():
        f=l.split()
        if len(f)>=8 and f[7]==name and f[3]=='FUNC':
            return int(f[1],16), int(f[2],16) if f[2].startswith('0x') else int(f[2]), f[6]
def sect(obj, idx=None, name=None):
    for l in sh('readelf','-SW',obj).splitlines():
        m=re.match(r'\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)', l)
        if m and ((idx is not None and m.group(1)==str(idx)) or (name and m.group(2)==name)):
            return m.group(2), int(m.group(3),16), int(m.group(4),16), int(m.group(5),16)
def relocs(obj, secname):
    out=[]; cur=None
    for l in sh('readelf','-rW',obj).splitlines():
        m=re.match(r"Relocation section '([^']+)'", l)
        if m: cur=m.group(1); continue
        if cur=='.rela'+secname:
            f=l.split()
            if f and re.match(r'^[0-9a-f]{8,}$', f[0]): out.append(int(f[0],16))
    return out
obj, so, name = sys.argv[1], sys.argv[2], sys.argv[3]
val,size,ndx = sym(obj,name)
sname, addr, off, ssize = sect(obj, idx=int(ndx))
data=open(obj,'rb').read()[off+val:off+val+size]
mask=bytearray(b'\x01'*size)
for r in relocs(obj, sname):
    if val <= r < val+size:
        for k in range(4): 
            if r-val+k < size: mask[r-val+k]=0
# also mask call/jmp rel32 displacement (resolved at link time) - relocs cover those
so_data=open(so,'rb').read()
_, taddr, toff, tsize = sect(so, name='.text')
text=so_data[toff:toff+tsize]
# longest unmasked run as anchor
best=(0,0); i=0
while i<size:
    if mask[i]:
        j=i
        while j<size and mask[j]: j+=1
        if j-i>best[1]-best[0]: best=(i,j)
        i=j
    else: i+=1
anchor=data[best[0]:best[1]]
hits=[]
p=text.find(anchor)
while p>=0:
    s=p-best[0]
    if s>=0 and s+size<=len(text) and all((not mask[k]) or text[s+k]==data[k] for k in range(size)):
        hits.append(taddr+s)
    p=text.find(anchor,p+1)
print(name, 'size', size, 'anchor', best[1]-best[0], 'hits', [hex(h) for h in hits])
