package pipeline

// What bf-p4c 9.13.4 placed for each table of p4src/tna and p4src/t2na at
// its declared size, from p4src/build/<arch>/pipe/logs/resources.json.gz:
// the blocks the report names the table, its action data ($action), its
// algorithmic LPM pre-classifier and its direct counter
// (TestBudgetsMatchReport keeps these equal to it).
var (
	tofinoPlaced = map[string]TableBudget{
		"egress.ports":            {Size: 1024, SRAM: 2, TCAM: 0},
		"ingress.acl_v4":          {Size: 1024, SRAM: 1, TCAM: 6},
		"ingress.acl_v6":          {Size: 512, SRAM: 1, TCAM: 8},
		"ingress.dst_identity_v4": {Size: 16384, SRAM: 18, TCAM: 8},
		"ingress.dst_identity_v6": {Size: 8192, SRAM: 27, TCAM: 16},
		"ingress.dst_port_class":  {Size: 512, SRAM: 1, TCAM: 6},
		"ingress.l2":              {Size: 65536, SRAM: 39, TCAM: 0},
		"ingress.policy_pair":     {Size: 2048, SRAM: 9, TCAM: 0},
		"ingress.policy_port":     {Size: 65536, SRAM: 122, TCAM: 0},
		"ingress.policy_proto":    {Size: 4096, SRAM: 9, TCAM: 0},
		"ingress.policy_range":    {Size: 32768, SRAM: 56, TCAM: 0},
		"ingress.ports":           {Size: 1024, SRAM: 2, TCAM: 0},
		"ingress.reply_port":      {Size: 32768, SRAM: 58, TCAM: 0},
		"ingress.reply_proto":     {Size: 8192, SRAM: 15, TCAM: 0},
		"ingress.reply_range":     {Size: 32768, SRAM: 56, TCAM: 0},
		"ingress.segments":        {Size: 4096, SRAM: 4, TCAM: 0},
		"ingress.src_identity_v4": {Size: 16384, SRAM: 16, TCAM: 0},
		"ingress.src_identity_v6": {Size: 4096, SRAM: 8, TCAM: 0},
		"ingress.src_port_class":  {Size: 512, SRAM: 1, TCAM: 6},
	}
	tofino2Placed = map[string]TableBudget{
		"egress.ports":            {Size: 1024, SRAM: 2, TCAM: 0},
		"ingress.acl_v4":          {Size: 2048, SRAM: 1, TCAM: 12},
		"ingress.acl_v6":          {Size: 512, SRAM: 1, TCAM: 8},
		"ingress.dst_identity_v4": {Size: 32768, SRAM: 32, TCAM: 8},
		"ingress.dst_identity_v6": {Size: 16384, SRAM: 47, TCAM: 16},
		"ingress.dst_port_class":  {Size: 1024, SRAM: 1, TCAM: 10},
		"ingress.l2":              {Size: 131072, SRAM: 102, TCAM: 0},
		"ingress.policy_pair":     {Size: 16384, SRAM: 29, TCAM: 0},
		"ingress.policy_port":     {Size: 131072, SRAM: 247, TCAM: 0},
		"ingress.policy_proto":    {Size: 32768, SRAM: 58, TCAM: 0},
		"ingress.policy_range":    {Size: 32768, SRAM: 61, TCAM: 0},
		"ingress.ports":           {Size: 1024, SRAM: 2, TCAM: 0},
		"ingress.reply_port":      {Size: 65536, SRAM: 131, TCAM: 0},
		"ingress.reply_proto":     {Size: 16384, SRAM: 29, TCAM: 0},
		"ingress.reply_range":     {Size: 65536, SRAM: 131, TCAM: 0},
		"ingress.segments":        {Size: 4096, SRAM: 4, TCAM: 0},
		"ingress.src_identity_v4": {Size: 32768, SRAM: 28, TCAM: 0},
		"ingress.src_identity_v6": {Size: 8192, SRAM: 20, TCAM: 0},
		"ingress.src_port_class":  {Size: 1024, SRAM: 1, TCAM: 10},
	}
)
