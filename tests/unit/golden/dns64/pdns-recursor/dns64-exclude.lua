local prefix = '2001:db8:64::'
local exclude = newNMG()
exclude:addMask('::ffff:0:0/96')
function postresolve(dq)
  if dq.qtype ~= pdns.AAAA or dq.rcode ~= pdns.NOERROR then return false end
  local kept, owner, left = {}, nil, false
  for _, r in ipairs(dq:getRecords()) do
    if r.type == pdns.AAAA and r.place == pdns.place.ANSWER and exclude:match(r:getCA()) then
      owner = r.name
    else
      if r.type == pdns.AAAA and r.place == pdns.place.ANSWER then left = true end
      table.insert(kept, r)
    end
  end
  if owner == nil then return false end
  dq:setRecords(kept)
  if not left then
    dq.followupFunction = 'getFakeAAAARecords'
    dq.followupPrefix = prefix
    dq.followupName = owner
  end
  return true
end
